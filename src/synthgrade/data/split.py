"""Deterministic stratified train / validation / test splits of human-coded data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from synthgrade.data.integrity import is_synthetic
from synthgrade.data.readers import write_table
from synthgrade.data.schema import ITEM_ID, LABEL, has_items, label_order
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.io import sha256_file, write_json

SPLITS = ("train", "val", "test")
SplitMode = Literal["answer", "item"]


def _interleave(n: int, fractions: Sequence[float]) -> np.ndarray:
    """Assign n ordered positions to splits so every prefix is as close to ``fractions`` as possible.

    Applied to rows grouped by stratum, each stratum gets its proportional share to within one row,
    and the overall sizes are exact; this works for strata far too small for random sampling.
    """
    targets = np.asarray(fractions, dtype=float)
    counts = np.zeros(len(targets))
    out = np.empty(n, dtype=int)
    for i in range(n):
        deficit = targets * (i + 1) - counts
        choice = int(np.argmax(deficit))
        out[i] = choice
        counts[choice] += 1
    return out


def split_responses(
    frame: pd.DataFrame,
    seed: int = 0,
    by: SplitMode = "answer",
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
) -> dict[str, pd.DataFrame]:
    """Split human-coded rows into train / val / test.

    ``by="answer"``: every item appears in every split (unseen answers), stratified by item and label.
    ``by="item"``: whole items go to one split (unseen items), balanced by row count.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise SynthgradeError(f"split fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    if is_synthetic(frame).any():
        raise SynthgradeError("split takes human-coded rows only; this table has synthetic rows")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    shuffled = frame.iloc[order].reset_index(drop=True)
    if by == "item":
        if not has_items(frame):
            raise ParameterError("by", "item needs an item column (map it with --item-col)")
        items = shuffled[ITEM_ID].drop_duplicates().tolist()
        if len(items) < 3:
            raise ParameterError("by", f"item needs at least 3 items, the data has {len(items)}")
        sizes = shuffled[ITEM_ID].value_counts()
        assigned: dict[str, int] = {}
        rows = np.zeros(3)
        targets = np.asarray(fractions) * len(frame)
        # Largest items first so the small ones can even out the row counts.
        for item in sorted(items, key=lambda i: -sizes[i]):
            missing = [k for k in range(3) if fractions[k] > 0 and rows[k] == 0]
            choice = missing[0] if missing else int(np.argmax(targets - rows))
            assigned[item] = choice
            rows[choice] += sizes[item]
        split_of = shuffled[ITEM_ID].map(assigned).to_numpy()
    elif by == "answer":
        strata = shuffled[LABEL].astype(str)
        if has_items(shuffled):
            strata = shuffled[ITEM_ID].astype(str) + "\x1f" + strata
        grouped = shuffled.assign(_stratum=strata.to_numpy()).sort_values("_stratum", kind="stable")
        split_of = np.empty(len(shuffled), dtype=int)
        split_of[grouped.index.to_numpy()] = _interleave(len(grouped), fractions)
    else:
        raise ParameterError("by", f"must be 'answer' or 'item', got {by!r}")
    return {name: shuffled[split_of == k].reset_index(drop=True) for k, name in enumerate(SPLITS)}


def write_splits(
    splits: dict[str, pd.DataFrame],
    out_dir: str | Path,
    seed: int,
    by: str,
    fractions: Sequence[float],
    source: str | Path | None = None,
    fmt: str = "csv",
    labels: Sequence[str] | None = None,
) -> dict:
    """Write ``train/val/test.<fmt>`` and ``manifest.json`` (seed, sizes, label counts, content hashes)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    all_labels = label_order(pd.concat([s[LABEL] for s in splits.values()]).dropna(), labels)
    manifest: dict = {
        "source": str(source) if source is not None else None,
        "source_hash": sha256_file(source) if source is not None and Path(source).is_file() else None,
        "seed": seed,
        "by": by,
        "fractions": list(fractions),
        "labels": all_labels,
        "splits": {},
    }
    for name in SPLITS:
        part = splits[name]
        path = write_table(part, out_dir / f"{name}.{fmt}")
        counts = part[LABEL].value_counts()
        manifest["splits"][name] = {
            "file": path.name,
            "rows": int(len(part)),
            "items": int(part[ITEM_ID].nunique()) if ITEM_ID in part.columns else None,
            "label_counts": {label: int(counts.get(label, 0)) for label in all_labels},
            "sha256": sha256_file(path),
        }
    write_json(out_dir / "manifest.json", manifest)
    return manifest
