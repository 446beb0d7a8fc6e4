"""Data-integrity rules of training: selection rows are human-coded, splits are disjoint, labels index the model's."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from synthgrade.data.schema import ID, LABEL, WHERE
from synthgrade.errors import SynthgradeError
from synthgrade.mix import is_synthetic

#: Provenance columns that only generated rows carry; a "human" validation row with them is suspect.
GENERATION_COLUMNS = ("prompt_hash", "call_index", "sample_index")


def check_human_validation(val: pd.DataFrame, name: str = "validation") -> None:
    """Selection data must be human-coded: refuse synthetic rows (by flag or generation provenance)."""
    flagged = is_synthetic(val)
    for column in GENERATION_COLUMNS:
        if column in val.columns:
            flagged |= val[column].notna() & (val[column].astype(str).str.strip() != "")
    if flagged.any():
        first = val.loc[flagged].iloc[0]
        where = first.get(WHERE) if isinstance(first.get(WHERE), str) else f"id {first.get(ID)}"
        raise SynthgradeError(
            f"{where}: the {name} data contains {int(flagged.sum())} synthetic rows; early stopping and model "
            "selection use human-coded rows only"
        )
    if val.empty:
        raise SynthgradeError(f"the {name} data has no rows")


def check_disjoint(train: pd.DataFrame, val: pd.DataFrame, names: tuple[str, str] = ("training", "validation")) -> None:
    """A row id in both training and validation (or examples and test) would make the figures optimistic."""
    if ID not in train.columns or ID not in val.columns:
        return
    shared = set(map(str, train[ID])) & set(map(str, val[ID]))
    if shared:
        example = sorted(shared)[0]
        raise SynthgradeError(f"{len(shared)} row ids are in both the {names[0]} and {names[1]} data (e.g. '{example}')")


def label_indices(frame: pd.DataFrame, labels: Sequence[str], allow_missing: bool = False) -> np.ndarray:
    """Label strings -> positions in ``labels`` (-1 for missing labels when ``allow_missing``)."""
    index = {label: i for i, label in enumerate(labels)}
    if LABEL not in frame.columns:
        if allow_missing:
            return np.full(len(frame), -1, dtype=np.int64)
        raise SynthgradeError("the data has no label column (map it with --label-col)")
    out = np.empty(len(frame), dtype=np.int64)
    where = frame[WHERE].tolist() if WHERE in frame.columns else [f"row {i + 1}" for i in range(len(frame))]
    for i, (loc, value) in enumerate(zip(where, frame[LABEL], strict=True)):
        if value is None or (isinstance(value, float) and value != value) or pd.isna(value):
            if not allow_missing:
                raise SynthgradeError(f"{loc}: missing label")
            out[i] = -1
            continue
        position = index.get(str(value))
        if position is None:
            raise SynthgradeError(f"{loc}: label '{value}' is not one of the model's labels {', '.join(labels)}")
        out[i] = position
    return out
