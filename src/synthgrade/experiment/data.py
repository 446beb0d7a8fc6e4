"""The sweep's human data: loaded and split once, written to ``RUN_DIR/split/``, and human budgets.

Test rows (and validation rows) never reach generation prompts or training: trials read ``train``
for everything they learn from, ``val`` only for early stopping, ``test`` only for the final numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from synthgrade.data import ColumnMap, load_responses, split_responses, write_splits
from synthgrade.data.schema import ITEM_ID, LABEL, has_items, label_order
from synthgrade.errors import SynthgradeError
from synthgrade.experiment.config import SweepConfig
from synthgrade.experiment.layout import SWEEP_SPLIT_FORMAT, SweepLayout
from synthgrade.experiment.plan import DataSummary
from synthgrade.io import read_json, stable_hash


def _subsample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """A stratified (item, label) subsample of ``rows`` rows, deterministic in ``seed``."""
    if rows >= len(frame):
        return frame
    return select_per_group(frame, rows, seed, group=None)


def _rank_within(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """Interleave labels: the k-th row of a label sits at quantile (k + 0.5) / n_label, so prefixes are stratified."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(frame))
    labels = frame[LABEL].astype(str).to_numpy()[shuffled]
    position = np.empty(len(frame))
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        position[where] = (np.arange(len(where)) + 0.5) / len(where)
    order = shuffled[np.lexsort((np.arange(len(frame)), position))]
    return order


def select_per_group(frame: pd.DataFrame, budget: int, seed: int, group: str | None = ITEM_ID) -> pd.DataFrame:
    """``budget`` rows per group (per item), label-stratified; all rows of a group smaller than the budget."""
    if group is None or group not in frame.columns or not has_items(frame):
        order = _rank_within(frame, seed)
        return frame.iloc[np.sort(order[:budget])].reset_index(drop=True)
    parts = []
    for _, part in frame.groupby(group, sort=True):
        order = _rank_within(part, seed)
        parts.append(part.iloc[np.sort(order[:budget])])
    return pd.concat(parts).sort_index().reset_index(drop=True)


def human_rows(train: pd.DataFrame, budget: int | str, seed: int) -> pd.DataFrame:
    """The human-coded rows a trial may use: ``budget`` per item (label-stratified), or all of them."""
    if budget == "all":
        return train.reset_index(drop=True)
    return select_per_group(train, int(budget), seed)


def _column_map(config: SweepConfig) -> ColumnMap:
    return ColumnMap(**config.data.columns) if config.data.columns else ColumnMap()


def load_and_split(config: SweepConfig) -> dict[str, pd.DataFrame]:
    """Read the data named by the config and split it (deterministic in ``data.split.seed``)."""
    data = config.data
    columns = _column_map(config)
    pool = load_responses(config.resolve_path(data.path), columns, data.labels)
    split = data.split
    items = None
    if data.max_items:
        if not has_items(pool):
            raise SynthgradeError(f"{data.path}: data.max_items needs an item column")
        known = sorted(pool[ITEM_ID].dropna().astype(str).unique())
        rng = np.random.default_rng(split.seed)
        items = set(rng.permutation(known)[: data.max_items].tolist())
        pool = pool[pool[ITEM_ID].astype(str).isin(items)].reset_index(drop=True)
    if data.test_path:
        test = load_responses(config.resolve_path(data.test_path), columns, data.labels)
        if items is not None:
            test = test[test[ITEM_ID].astype(str).isin(items)].reset_index(drop=True)
        overlap = set(pool["id"].astype(str)) & set(test["id"].astype(str))
        if overlap:
            raise SynthgradeError(
                f"{data.test_path}: {len(overlap)} test ids also appear in {data.path} (e.g. {sorted(overlap)[0]})"
            )
        parts = split_responses(pool, seed=split.seed, by=split.by, fractions=(1.0 - split.val, split.val, 0.0))
        parts["test"] = test.reset_index(drop=True)
    else:
        fractions = (1.0 - split.val - split.test, split.val, split.test)
        parts = split_responses(pool, seed=split.seed, by=split.by, fractions=fractions)
    if data.max_train_rows:
        parts["train"] = _subsample(parts["train"], data.max_train_rows, split.seed)
    if data.max_test_rows:
        parts["test"] = _subsample(parts["test"], data.max_test_rows, split.seed)
    labels = label_order(pool[LABEL], data.labels)
    for name, part in parts.items():
        if part.empty:
            raise SynthgradeError(f"{data.path}: the {name} split is empty; use more data or change data.split")
        unknown = sorted(set(part[LABEL].astype(str)) - set(labels))
        if unknown:
            raise SynthgradeError(f"{data.test_path or data.path}: label '{unknown[0]}' in the {name} split is not in {labels}")
    for part in parts.values():
        part.attrs["labels"] = labels
    return parts


def summarise(parts: dict[str, pd.DataFrame], manifest_hashes: dict[str, str] | None = None) -> DataSummary:
    labels = parts["train"].attrs.get("labels") or label_order(parts["train"][LABEL])
    if manifest_hashes is None:
        manifest_hashes = {
            name: stable_hash(part[[c for c in part.columns if not str(c).startswith("_")]].astype(str).to_dict("list"), 32)
            for name, part in parts.items()
        }
    train = parts["train"]
    return DataSummary(
        fingerprint=stable_hash({"splits": manifest_hashes, "labels": labels}),
        labels=list(labels),
        items=int(train[ITEM_ID].nunique()) if has_items(train) else 0,
        train_rows=len(train),
        val_rows=len(parts["val"]),
        test_rows=len(parts["test"]),
        max_label_rows=int(train[LABEL].astype(str).value_counts().max()),
    )


def prepare_split(config: SweepConfig, run_dir: str | Path) -> DataSummary:
    """Split once and write ``RUN_DIR/split/``; a rerun checks the data still gives the same split."""
    parts = load_and_split(config)
    summary = summarise(parts)
    layout = SweepLayout(run_dir)
    marker = layout.split_manifest
    if marker.exists():
        old = read_json(marker).get("fingerprint")
        if old != summary.fingerprint:
            raise SynthgradeError(
                f"{run_dir}: this run directory was made from different data or split settings "
                f"({old} vs {summary.fingerprint}); use a new --out"
            )
        return summary
    split = config.data.split
    manifest = write_splits(
        parts,
        layout.split_dir,
        seed=split.seed,
        by=split.by,
        fractions=(1.0 - split.val - split.test, split.val, split.test),
        source=config.resolve_path(config.data.path),
        fmt=SWEEP_SPLIT_FORMAT,
        labels=summary.labels,
    )
    manifest["fingerprint"] = summary.fingerprint
    manifest["test_source"] = str(config.resolve_path(config.data.test_path)) if config.data.test_path else None
    from synthgrade.io import write_json

    write_json(marker, manifest)
    return summary


def read_split(run_dir: str | Path, name: str) -> pd.DataFrame:
    """One split of a run directory as a response table (labels in the sweep's order in ``attrs``)."""
    layout = SweepLayout(run_dir)
    manifest = read_json(layout.split_manifest)
    frame = load_responses(layout.split(name), labels=manifest["labels"])
    frame.attrs["labels"] = manifest["labels"]
    return frame
