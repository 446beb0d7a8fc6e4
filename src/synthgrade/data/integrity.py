"""Data-integrity rules every stage shares: which rows are synthetic, label positions, disjoint and
human-only guards, and a content hash of a response table.

One rule each, so that no two stages can disagree on, say, whether the string ``"false"`` marks a
synthetic row (it does not: see :func:`is_synthetic`).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.data.schema import ID, ITEM_ID, LABEL, TEXT, WHERE
from synthgrade.errors import SynthgradeError
from synthgrade.io import stable_hash

#: The column that marks a row as synthetic (generated), set by ``generate`` and ``mix``.
SYNTHETIC = "synthetic"
#: Provenance columns that only generated rows carry; a "human" row with one of them filled is suspect.
GENERATION_COLUMNS = ("prompt_hash", "call_index", "sample_index")
#: String spellings of a true ``synthetic`` flag (compared stripped and lower-cased); any other string is false.
TRUE_STRINGS = frozenset({"true", "1", "yes"})


def is_synthetic_value(value: Any) -> bool:
    """Whether one ``synthetic`` cell marks its row synthetic.

    True for ``True``, non-zero numbers and the strings ``"true"``, ``"1"``, ``"yes"`` (any case, any
    surrounding spaces). False for ``False``, ``0``, missing values (``None``, NaN, ``pd.NA``), every other
    string (``"false"``, ``"0"`` and ``""`` included) and anything that is not a boolean, number or string.
    A CSV round trip writes the flag as text, so text must not count as true merely for being non-empty.
    """
    if isinstance(value, str):
        return value.strip().lower() in TRUE_STRINGS
    if isinstance(value, bool | np.bool_ | Number):
        return bool(value) and not pd.isna(value)
    return False  # None, pd.NA, or a list or object in the cell: not a flag


def is_synthetic(frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of rows marked synthetic (see :func:`is_synthetic_value`); no ``synthetic`` column: all human."""
    if SYNTHETIC not in frame.columns:
        return pd.Series(False, index=frame.index, dtype=bool)
    return frame[SYNTHETIC].map(is_synthetic_value).astype(bool)


def generated_rows(frame: pd.DataFrame) -> pd.Series:
    """Rows that are synthetic by flag or carry generation provenance (a filled :data:`GENERATION_COLUMNS` cell)."""
    flagged = is_synthetic(frame)
    for column in GENERATION_COLUMNS:
        if column in frame.columns:
            flagged |= frame[column].notna() & (frame[column].astype(str).str.strip() != "")
    return flagged


def check_human_only(frame: pd.DataFrame, name: str, why: str) -> None:
    """Refuse ``frame`` if any row is synthetic (by flag or provenance) or it has no rows.

    ``name`` says which data it is (``"validation"``, ``"test"``), ``why`` ends the message.
    """
    flagged = generated_rows(frame)
    if flagged.any():
        first = frame.loc[flagged].iloc[0]
        where = first.get(WHERE) if isinstance(first.get(WHERE), str) else f"id {first.get(ID)}"
        raise SynthgradeError(f"{where}: the {name} data contains {int(flagged.sum())} synthetic rows; {why}")
    if frame.empty:
        raise SynthgradeError(f"the {name} data has no rows")


def check_human_validation(val: pd.DataFrame, name: str = "validation") -> None:
    """Selection data must be human-coded: refuse synthetic rows (by flag or generation provenance)."""
    check_human_only(val, name, "early stopping and model selection use human-coded rows only")


def check_human_test(test: pd.DataFrame, name: str = "test") -> None:
    """Test data must be human-coded, by the same rule as validation data."""
    check_human_only(test, name, "evaluate on human-coded rows only")


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


def frame_hash(frame: pd.DataFrame) -> str:
    """Content hash of a response table's public columns (row order matters)."""
    columns = [c for c in (ID, TEXT, LABEL, ITEM_ID) if c in frame.columns]
    return stable_hash(frame[columns].astype(str).values.tolist())

