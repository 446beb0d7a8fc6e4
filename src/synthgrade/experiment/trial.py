"""The real work of a sweep: making a synthetic set, and running one trial (mix, train, distil, evaluate).

Both are plain functions of a picklable spec that read their inputs from the run directory and return
a JSON-able dict, so any executor can run them. Only human rows feed prompts and training: the
human rows of a trial are its budget drawn from ``split/train``; ``val`` is used only for early
stopping and checkpoint selection, ``test`` only for the reported numbers (and, for generation, only
by the leakage guard that drops synthetic rows too close to a validation or test response).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from synthgrade.console import console
from synthgrade.data import frame_hash, is_synthetic, label_indices, write_table
from synthgrade.data.schema import LABEL
from synthgrade.errors import SynthgradeError
from synthgrade.experiment.data import human_rows, read_split
from synthgrade.experiment.layout import SweepLayout
from synthgrade.experiment.plan import SyntheticSpec, TrialSpec
from synthgrade.io import read_json, write_json

DIAGNOSTIC_KEYS = (
    "distinct_1",
    "distinct_2",
    "mean_length_words",
    "mean_pairwise_cosine",
    "mean_pairwise_cosine_within_item_label",
    "nearest_human_similarity",
)


def read_synthetic(path: Path, labels: list[str]) -> pd.DataFrame:
    frame = pd.read_json(path, lines=True, dtype=False) if path.stat().st_size else pd.DataFrame(columns=["id", "text", "label"])
    for column in ("id", "text", "label", "item_id"):
        if column in frame.columns:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
            frame[column] = frame[column].map(lambda v: v if v is None else str(v))
    frame["synthetic"] = True
    frame.attrs["labels"] = labels
    return frame


def _mean_of(value: Any) -> float | None:
    """A number, or the mean of a dict's numeric values (GEN reports some diagnostics per label)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        if "mean" in value:
            return _mean_of(value["mean"])
        numbers = [v for v in (_mean_of(x) for x in value.values()) if v is not None]
        return float(np.mean(numbers)) if numbers else None
    return None


def flat_diagnostics(generation: dict[str, Any], filtering: dict[str, Any] | None) -> dict[str, float]:
    """The numbers the report plots against temperature, from the generation (and filter) summaries."""
    diagnostics = generation.get("diagnostics") or {}
    out: dict[str, float] = {}
    generated, kept = generation.get("generated"), generation.get("kept")
    if isinstance(generated, int) and generated:
        out["kept_after_cleaning_share"] = kept / generated
    for key in DIAGNOSTIC_KEYS:
        value = _mean_of(diagnostics.get(key))
        if value is not None:
            out[key] = value
    if filtering:
        rows_in = filtering.get("rows_in") or 0
        out["filter_kept_share"] = (filtering.get("kept", 0) / rows_in) if rows_in else 0.0
        out["rows"] = float(filtering.get("kept", 0))
    else:
        out["rows"] = float(kept or 0)
    return out


def _pydantic(factory: Any, settings: dict[str, Any], where: str) -> Any:
    try:
        return factory(**settings)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = ".".join(str(p) for p in error["loc"])
        raise SynthgradeError(f"{where}.{loc}: {error['msg']}") from None


def _raw_synthetic(
    spec: SyntheticSpec, layout: SweepLayout, human: pd.DataFrame, settings: dict[str, Any], cache_dir: Path | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The unfiltered set of ``spec.generation_key`` and its generation summary: read back, or generated now."""
    from synthgrade.generate import GenerationConfig, generate_synthetic, summary_path, write_synthetic

    labels = human.attrs["labels"]
    raw_path = layout.synthetic(spec.generation_key)
    if raw_path.exists() and summary_path(raw_path).exists():
        return read_synthetic(raw_path, labels), read_json(summary_path(raw_path))
    console.print(
        f"generating synthetic set {spec.generation_key} (temperature {spec.temperature}, seed {spec.seed}, "
        f"human budget {spec.human_budget}: {len(human)} human rows as examples)",
        highlight=False,
    )
    config = _pydantic(GenerationConfig, settings, "generation")
    val, test = read_split(layout.root, "val"), read_split(layout.root, "test")
    result = generate_synthetic(human, config, exclude=[val, test], cache_dir=cache_dir, show_progress=True)
    write_synthetic(result, raw_path)
    write_json(
        layout.diagnostics(spec.generation_key),
        {
            "key": spec.generation_key,
            "params": {**spec.params, "filter": "off"},
            "diagnostics": flat_diagnostics(result.summary, None),
        },
    )
    return read_synthetic(raw_path, labels), result.summary


def make_synthetic(spec: SyntheticSpec) -> dict[str, Any]:
    """Generate (once per generation key) and optionally filter one synthetic set into ``RUN_DIR/synthetic/``."""
    layout = SweepLayout(spec.run_dir)
    out = layout.synthetic(spec.key)
    if out.exists() and layout.diagnostics(spec.key).exists():
        return read_json(layout.diagnostics(spec.key))
    train = read_split(layout.root, "train")
    human = human_rows(train, spec.human_budget, spec.seed if spec.budget_seed is None else spec.budget_seed)
    human.attrs["labels"] = train.attrs["labels"]
    settings = dict(spec.generation)
    cache_dir = Path(settings.pop("cache_dir")) if settings.get("cache_dir") else None
    raw, generation_summary = _raw_synthetic(spec, layout, human, settings, cache_dir)
    if spec.filter == "off":
        return read_json(layout.diagnostics(spec.key))
    from synthgrade.filter import FilterConfig, filter_synthetic

    filter_config = _pydantic(FilterConfig, dict(spec.filter_config or {}), "filter")
    console.print(
        f"filtering synthetic set {spec.generation_key} ({len(raw)} rows, {', '.join(filter_config.method)})", highlight=False
    )
    result = filter_synthetic(raw, filter_config, human=human, cache_dir=cache_dir, show_progress=True)
    write_json(layout.filter_summary(spec.key), result.summary)
    write_table(result.frame, out)
    entry = {
        "key": spec.key,
        "generation_key": spec.generation_key,
        "params": spec.params,
        "diagnostics": flat_diagnostics(generation_summary, result.summary),
    }
    write_json(layout.diagnostics(spec.key), entry)
    return entry


def _predictions(proba: np.ndarray, scorer_labels: list[str], labels: list[str]) -> list[int]:
    """Predicted label indices in the sweep's label order (for paired bootstraps in the report)."""
    return [labels.index(scorer_labels[i]) for i in proba.argmax(axis=1)]


def _evaluate(scorer: Any, test: pd.DataFrame, labels: list[str], evaluation: dict[str, Any], seed: int) -> dict[str, Any]:
    from synthgrade.metrics import evaluate_predictions

    start = time.perf_counter()
    proba = np.asarray(scorer.predict_proba(test), dtype=np.float64)
    metrics = evaluate_predictions(
        label_indices(test, scorer.labels),
        proba,
        scorer.labels,
        bootstrap=evaluation["bootstrap"],
        seed=seed,
        ordinal=scorer.info.ordinal,
    )
    metrics["test_hash"] = frame_hash(test)
    entry: dict[str, Any] = {
        "metrics": {k: v for k, v in metrics.items() if k not in {"per_label", "confusion_matrix"}},
        "per_label": metrics.get("per_label"),
        "confusion_matrix": metrics.get("confusion_matrix"),
        "predictions": _predictions(proba, scorer.labels, labels),
        "parameters": scorer.info.parameters,
        "kind": scorer.info.kind,
    }
    if evaluation.get("speed", True):
        from synthgrade.speed import measure_speed

        entry["speed"] = measure_speed(scorer, test, max_rows=evaluation["speed_rows"], single=20)
    entry["eval_seconds"] = round(time.perf_counter() - start, 3)
    return entry


def _mix(
    human: pd.DataFrame,
    synthetic: pd.DataFrame,
    ratio: float,
    mode: str,
    total: int | None,
    seed: int,
    shortfall: str,
    set_key: str | None,
) -> Any:
    """Mix at ``ratio``; with ``shortfall="shrink"`` (fixed-total) lower the total until the synthetic set suffices."""
    from synthgrade.mix import feasible_total, mix_training_set

    shrunk_to = None
    if shortfall == "shrink" and total is not None and ratio > 0:
        feasible = feasible_total(human, synthetic, ratio, total)
        shrunk_to = feasible if feasible is not None and feasible < total else None
    try:
        mixed = mix_training_set(human, synthetic, ratio, mode=mode, total=shrunk_to or total, seed=seed)
    except SynthgradeError as exc:
        raise SynthgradeError(f"synthetic set {set_key}: {exc}") from None
    if shrunk_to is not None:
        mixed.manifest["shrunk_from_total"] = total
        console.print(
            f"[yellow]note:[/yellow] synthetic set {set_key} is short for {ratio:.0%} of {total} rows; "
            f"trained on {shrunk_to} rows instead (share kept)",
            highlight=False,
        )
    return mixed


def _training_rows(spec: TrialSpec, human: pd.DataFrame, labels: list[str], seed: int) -> Any:
    """The trial's mixed training set: its human rows plus its synthetic set at the trial's share."""
    from synthgrade.mix import mix_training_set

    if not spec.synthetic_key:
        mixed = mix_training_set(human, None, 0.0, seed=seed)
    else:
        mix = spec.config["mix"]
        synthetic = read_synthetic(SweepLayout(spec.run_dir).synthetic(spec.synthetic_key), labels)
        total = mix["total"] or (len(human) if mix["mode"] == "fixed-total" else None)
        shortfall = mix.get("shortfall", "error")
        mixed = _mix(human, synthetic, float(spec.params["ratio"]), mix["mode"], total, seed, shortfall, spec.synthetic_key)
    mixed.frame.attrs["labels"] = labels
    return mixed


def _row_counts(mixed: Any, val: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    rows = mixed.frame
    is_syn = is_synthetic(rows)
    return {
        "human": int((~is_syn).sum()),
        "synthetic": int(is_syn.sum()),
        "train": len(rows),
        "val": len(val),
        "test": len(test),
        "synthetic_label_counts": rows.loc[is_syn, LABEL].astype(str).value_counts().to_dict(),
        "shrunk_from_total": mixed.manifest.get("shrunk_from_total"),
    }


def _train_teacher(
    teacher_cfg: dict[str, Any], train_rows: pd.DataFrame, val: pd.DataFrame, labels: list[str], seed: int, provenance: dict
) -> tuple[Any, float]:
    """The teacher, fine-tuned on the mixed rows (``val`` for early stopping only), and its training seconds."""
    from synthgrade.train import Trainer, TrainingArguments

    fields = ("model", "input", "max_length", "epochs", "lr", "batch_size", "patience")
    settings = {name: teacher_cfg[name] for name in fields} | (teacher_cfg.get("options") or {})
    args = TrainingArguments.from_dict(settings, seed=seed, labels=labels)
    started = time.perf_counter()
    teacher = Trainer(args).train(train_rows, val, provenance=provenance)
    return teacher, time.perf_counter() - started


def _train_student(
    student_cfg: dict[str, Any], teacher: Any, transfer: pd.DataFrame, val: pd.DataFrame, labels: list[str], seed: int,
    provenance: dict,
) -> tuple[Any, float]:  # fmt: skip
    """One student distilled from ``teacher`` on the ``transfer`` rows, and its training seconds."""
    from synthgrade.distill import DistillationArguments, DistillationTrainer

    settings = {"student": student_cfg["model"]} | {name: student_cfg[name] for name in ("epochs", "batch_size", "lr")}
    args = DistillationArguments.from_dict(settings | (student_cfg.get("options") or {}), seed=seed, labels=labels, speed_rows=0)
    started = time.perf_counter()
    student = DistillationTrainer(teacher, args).train(transfer, val, provenance=provenance)
    return student, time.perf_counter() - started


def run_trial(spec: TrialSpec) -> dict[str, Any]:
    """One trial: budgeted human rows + synthetic set -> mix -> teacher -> students -> test metrics."""
    started = time.perf_counter()
    config, params = spec.config, spec.params
    layout = SweepLayout(spec.run_dir)
    seed = int(params["seed"])
    train, val, test = (read_split(layout.root, name) for name in ("train", "val", "test"))
    labels = list(train.attrs["labels"])
    budget_seed = config.get("budget_seed")
    human = human_rows(train, params["human_budget"], seed if budget_seed is None else int(budget_seed))
    human.attrs["labels"] = labels
    mixed = _training_rows(spec, human, labels, seed)
    train_rows = mixed.frame
    evaluation = config["evaluation"]
    models_dir = layout.models(spec.key) if config.get("keep_models") else None

    provenance = {"sweep_trial": spec.key, "synthetic_set": spec.synthetic_key, "mix": mixed.manifest}
    teacher, teacher_seconds = _train_teacher(config["teacher"], train_rows, val, labels, seed, provenance)
    teacher_entry = {
        "model": config["teacher"]["model"],
        "train_seconds": round(teacher_seconds, 3),
        **_evaluate(teacher, test, labels, evaluation, seed),
    }
    teacher_entry["validation"] = (teacher.info.training or {}).get("validation") or (teacher.info.training or {}).get("best")
    if models_dir is not None:
        teacher.save_pretrained(models_dir / "teacher")

    students = []
    for student_cfg in config["students"]:
        name = student_cfg.get("name") or student_cfg["model"]
        transfer = train_rows if student_cfg["transfer"] == "mixed" else human
        student_provenance = {**provenance, "teacher": config["teacher"]["model"]}
        student, seconds = _train_student(student_cfg, teacher, transfer, val, labels, seed, student_provenance)
        entry = {
            "name": name,
            "model": student_cfg["model"],
            "train_seconds": round(seconds, 3),
            **_evaluate(student, test, labels, evaluation, seed),
        }
        entry["agreement_with_teacher"] = float(
            np.mean(np.asarray(entry["predictions"]) == np.asarray(teacher_entry["predictions"]))
        )
        students.append(entry)
        if models_dir is not None:
            student.save_pretrained(models_dir / f"student-{name.replace(':', '-')}")
    return {
        "status": "ok",
        "labels": labels,
        "counts": _row_counts(mixed, val, test),
        "teacher": teacher_entry,
        "students": students,
        "timings": {"total_s": round(time.perf_counter() - started, 3), "teacher_train_s": round(teacher_seconds, 3)},
    }
