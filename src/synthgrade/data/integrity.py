"""Data-integrity rules every stage shares: which rows are synthetic, label positions, disjoint and
human-only guards, and a content hash of a response table.

One rule each, so that no two stages can disagree on, say, whether the string ``"false"`` marks a
synthetic row (it does not: see :func:`is_synthetic`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
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


def normalised_text(value: Any) -> str:
    """A response as the leakage guard compares it: Unicode-normalised, case-folded, punctuation and runs of
    spaces collapsed, so a copy with another id, case or trailing full stop is still the same response."""
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _texts(frame: pd.DataFrame) -> list[str]:
    if TEXT not in frame.columns:
        return []
    return [key for key in (normalised_text(t) for t in frame[TEXT] if isinstance(t, str) or pd.notna(t)) if key]


def shared_texts(reference: pd.DataFrame, other: pd.DataFrame) -> tuple[int, int, float]:
    """(rows of ``other`` whose normalised text occurs in ``reference``, rows of ``other`` with a text, and the
    count that natural repeats would explain: ``other``'s size times the share of ``reference`` rows whose
    text another ``reference`` row repeats (short answers such as "yes" recur between students))."""
    counts = Counter(_texts(reference))
    keys = _texts(other)
    shared = sum(key in counts for key in keys)
    repeat_share = sum(c for c in counts.values() if c > 1) / max(1, sum(counts.values()))
    return shared, len(keys), len(keys) * repeat_share


def check_disjoint(
    train: pd.DataFrame, val: pd.DataFrame, names: tuple[str, str] = ("training", "validation"), by_text: bool = True
) -> None:
    """The one leakage guard: rows of ``val`` (validation, test, ``--exclude``) must not be rows of ``train``.

    Ids are compared first; then texts, normalised (:func:`normalised_text`), because a leaked row may come
    under another id or none. Identical answers recur naturally, so the guard refuses only more shared
    texts than the repeats within ``train`` explain, with a wide margin (half again, four standard deviations
    and two rows). ``by_text=False`` compares ids only.
    """
    if ID in train.columns and ID in val.columns:
        shared_ids = set(map(str, train[ID])) & set(map(str, val[ID]))
        if shared_ids:
            example = sorted(shared_ids)[0]
            raise SynthgradeError(f"{len(shared_ids)} row ids are in both the {names[0]} and {names[1]} data (e.g. '{example}')")
    if not by_text:
        return
    shared, rows, expected = shared_texts(train, val)
    share = expected / rows if rows else 0.0
    # Measured on SemEval splits (beetle repeats ~15 % of answers): natural overlap stays under 0.75 of this.
    allowed = 1.5 * expected + 4 * math.sqrt(expected * (1 - share)) + 2
    if shared > allowed:
        raise SynthgradeError(
            f"{shared} of the {rows} {names[1]} rows repeat a text of the {names[0]} data (compared ignoring case, "
            f"punctuation and ids; natural repeats explain about {expected:.0f}): the {names[1]} rows would leak "
            f"into the figures; remove the copies"
        )


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
