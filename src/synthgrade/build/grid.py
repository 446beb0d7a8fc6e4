"""One cell of the build grid as a task any executor can run (local, processes, Ray without a shared disk).

A :class:`GridTask` is picklable and names its inputs relative to the build folder (the split and one
kept synthetic set), so the Ray executor ships exactly those files to a worker; the cell writes its model
under ``work/grid/<key>/`` and returns its validation record (a :class:`~synthgrade.build.records.GridCell`),
and only the driver appends it to ``grid.jsonl``. The same function runs in-process for the local executor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from synthgrade.build.layout import BuildLayout
from synthgrade.build.records import GridCell
from synthgrade.data import frame_hash, label_indices, load_responses
from synthgrade.data.schema import ID
from synthgrade.experiment.trial import read_synthetic
from synthgrade.io import atomic_directory, read_json, stable_hash
from synthgrade.mix import feasible_share, mix_training_set
from synthgrade.train import selftrain
from synthgrade.train.selftrain import SELF_TRAINING, aligned_proba

#: A fold's pseudo-labels, by (teacher spec, seed, threshold, cap, fold rows, pool): the cells of one set share them.
_FOLD_PSEUDO: dict[str, pd.DataFrame] = {}


@dataclass(frozen=True)
class GridTask:
    run_dir: str
    key: str
    set_name: str
    strategy: str
    temperature: float
    share: float
    weight: float
    spec: str
    seed: int
    labels: tuple[str, ...]

    @property
    def inputs(self) -> tuple[str, ...]:
        """The files the task reads, relative to the run directory (a remote executor ships them)."""
        layout = BuildLayout(self.run_dir)
        paths = (layout.split("train"), layout.split("val"), layout.kept_synthetic(self.set_name))
        if self.set_name == SELF_TRAINING:  # cross-fitting pseudo-labels the pool again, with the set's threshold
            paths += (layout.unlabeled_pool, layout.filter_record(self.set_name))
        return tuple(path.relative_to(layout.root).as_posix() for path in paths)


def read_split_part(out: Path, name: str, labels: list[str]) -> pd.DataFrame:
    frame = load_responses(BuildLayout(out).split(name), labels=labels)
    frame.attrs["labels"] = labels
    return frame


def mixed_rows(out: Path, train: pd.DataFrame, set_name: str, share: float, labels: list[str], seed: int) -> Any:
    """The training rows of a cell: every human row plus kept synthetic rows at (up to) ``share``."""
    synthetic = read_synthetic(BuildLayout(out).kept_synthetic(set_name), labels)
    return mix_training_set(train, synthetic, feasible_share(train, synthetic, share, labels), seed=seed)


def train_grid_cell(task: GridTask) -> GridCell:
    """Train one augmented model, save it under ``work/grid/<key>``, return its validation record."""
    from synthgrade.train import Trainer, TrainingArguments

    out, labels = Path(task.run_dir), list(task.labels)
    train, val = read_split_part(out, "train", labels), read_split_part(out, "val", labels)
    mixed = mixed_rows(out, train, task.set_name, task.share, labels, task.seed)
    args = TrainingArguments(model=task.spec, seed=task.seed, labels=labels, synthetic_weight=task.weight, show_progress=False)
    tick = time.perf_counter()
    scorer = Trainer(args).train(mixed.frame, val, provenance={"arm": task.key, "mix": mixed.manifest})
    seconds = time.perf_counter() - tick
    with atomic_directory(BuildLayout(out).grid_model(task.key)) as tmp:
        scorer.save_pretrained(tmp)
    proba = aligned_proba(scorer, val, labels)
    from synthgrade.metrics import point_metrics

    f1 = point_metrics(label_indices(val, labels), proba, labels)["macro_f1"]
    oof = (scorer.info.training or {}).get("oof")
    if task.set_name == SELF_TRAINING:  # its own out-of-fold rows saw their labels through the pseudo-labels
        oof = self_training_oof(task, train, val)
    return GridCell(
        key=task.key,
        set_name=task.set_name,
        strategy=task.strategy,
        temperature=task.temperature,
        share=task.share,
        achieved_share=round(float(mixed.manifest.get("achieved_ratio", 0.0)), 4),
        weight=task.weight,
        synthetic_rows=int(mixed.manifest.get("synthetic_rows", 0)),
        seconds=round(seconds, 1),
        val_macro_f1=float(f1 or 0.0),
        val_pred=proba.argmax(axis=1).tolist(),
        oof=oof,
    )


def self_training_oof(task: GridTask, train: pd.DataFrame, val: pd.DataFrame) -> dict[str, Any] | None:
    """The self-training cell's out-of-fold predictions, its pseudo-labels remade without each fold."""
    layout, labels = BuildLayout(task.run_dir), list(task.labels)
    record = read_json(layout.filter_record(task.set_name))
    pool = read_synthetic(layout.unlabeled_pool, labels).drop(columns=["synthetic"])
    return cross_fitted_oof(
        task.spec, train, val, pool, labels, task.share, task.weight, float(record["threshold"]), float(record["cap"]), task.seed
    )


def cross_fitted_oof(
    spec: str,
    train: pd.DataFrame,
    val: pd.DataFrame,
    pool: pd.DataFrame,
    labels: list[str],
    share: float,
    weight: float,
    threshold: float,
    cap: float,
    seed: int,
) -> dict[str, Any] | None:
    """Out-of-fold predictions of the self-training cell with the pseudo-labels remade inside each fold.

    None when the training rows are too few for folds (the decision then uses the validation rows alone)."""
    from synthgrade.scorers.cv import splits
    from synthgrade.train import Trainer, TrainingArguments

    folds = splits(label_indices(train, labels), seed)
    if not folds:
        return None
    ids: list[str] = []
    pred: list[int] = []
    for fit_index, held_index in folds:
        part, held = train.iloc[fit_index].reset_index(drop=True), train.iloc[held_index].reset_index(drop=True)
        part.attrs["labels"] = labels
        key = stable_hash([spec, seed, threshold, cap, frame_hash(part), frame_hash(pool)])
        if key not in _FOLD_PSEUDO:
            teacher = Trainer(TrainingArguments(model=spec, seed=seed, labels=labels, show_progress=False)).train(part, val)
            _FOLD_PSEUDO[key] = selftrain.pseudo_label(teacher, pool, part, labels, threshold, cap)
        pseudo = _FOLD_PSEUDO[key].copy()
        pseudo.attrs["labels"] = labels
        mixed = mix_training_set(part, pseudo, feasible_share(part, pseudo, share, labels), seed=seed)
        student_args = TrainingArguments(model=spec, seed=seed, labels=labels, synthetic_weight=weight, show_progress=False)
        student = Trainer(student_args).train(mixed.frame, val)
        ids += held[ID].astype(str).tolist()
        pred += aligned_proba(student, held, labels).argmax(axis=1).tolist()
    return {"ids": ids, "pred": pred}
