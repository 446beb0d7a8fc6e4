"""Which pool rows may be proposed: not coded already (by id or by text), not a repeat, not in a held-out file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synthgrade.data.schema import ID, ITEM_ID, ITEM_TEXT, REFERENCE, TEXT
from synthgrade.errors import SynthgradeError
from synthgrade.generate.cleaning import normalise


def item_keys(frame: pd.DataFrame) -> list[str]:
    """The item of every row: its item_id, else its item wording + reference, else one shared item ("")."""
    if ITEM_ID in frame.columns:
        ids = frame[ITEM_ID].tolist()
    else:
        ids = [None] * len(frame)
    wording = frame[ITEM_TEXT].tolist() if ITEM_TEXT in frame.columns else [None] * len(frame)
    reference = frame[REFERENCE].tolist() if REFERENCE in frame.columns else [None] * len(frame)
    keys = []
    for item_id, text, ref in zip(ids, wording, reference, strict=True):
        if isinstance(item_id, str) and item_id.strip():
            keys.append(item_id.strip())
        else:
            parts = [p.strip() for p in (text, ref) if isinstance(p, str) and p.strip()]
            keys.append(" | ".join(parts))
    return keys


def text_keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(item, normalised text) of every row: the same words for the same item are one response."""
    return list(zip(item_keys(frame), (normalise(t) for t in frame[TEXT]), strict=True))


@dataclass
class Candidates:
    """The pool rows that may be proposed (index reset) and how many were set aside, by reason."""

    frame: pd.DataFrame
    items: np.ndarray
    set_aside: dict[str, int] = field(default_factory=dict)


def check_exclusions(pool: pd.DataFrame, exclude: Sequence[pd.DataFrame]) -> None:
    """Refuse a pool that shares rows (id, or item + normalised text) with a validation or test file."""
    if not exclude:
        return
    held_ids: set[str] = set()
    held_texts: set[tuple[str, str]] = set()
    for frame in exclude:
        if ID in frame.columns:
            held_ids |= set(map(str, frame[ID]))
        held_texts |= set(text_keys(frame))
    ids = pool[ID].astype(str).tolist() if ID in pool.columns else [""] * len(pool)
    pairs = enumerate(zip(ids, text_keys(pool), strict=True))
    overlap = [i for i, (row_id, key) in pairs if row_id in held_ids or key in held_texts]
    if overlap:
        first = pool.iloc[overlap[0]]
        where = first.get("_where", f"row {overlap[0] + 1}")
        raise SynthgradeError(
            f"{len(overlap)} pool rows are also in the excluded validation/test data (e.g. {where}); "
            "remove them from the pool so that the held-out rows stay unseen"
        )


def candidate_rows(pool: pd.DataFrame, coded: pd.DataFrame | None) -> Candidates:
    """Pool rows minus those coded (same id or same item + text) and minus repeats of one text within an item."""
    if TEXT not in pool.columns:
        raise SynthgradeError("the pool has no text column (map it with --text-col)")
    if not len(pool):
        raise SynthgradeError("the pool is empty: there are no responses to choose from")
    coded = coded if coded is not None else pool.iloc[:0]
    coded_ids = set(map(str, coded[ID])) if ID in coded.columns else set()
    coded_texts = set(text_keys(coded)) if len(coded) else set()
    ids = pool[ID].astype(str).tolist() if ID in pool.columns else [f"row {i + 1}" for i in range(len(pool))]
    keys = text_keys(pool)
    seen: set[tuple[str, str]] = set()
    keep = np.zeros(len(pool), dtype=bool)
    set_aside = {"coded": 0, "duplicate": 0, "empty": 0}
    for i, (row_id, key) in enumerate(zip(ids, keys, strict=True)):
        if not key[1]:
            set_aside["empty"] += 1
        elif row_id in coded_ids or key in coded_texts:
            set_aside["coded"] += 1
        elif key in seen:
            set_aside["duplicate"] += 1
        else:
            keep[i] = True
            seen.add(key)
    frame = pool[keep].reset_index(drop=True)
    if not len(frame):
        raise SynthgradeError(
            f"no pool row is left to propose: {set_aside['coded']} are already coded, "
            f"{set_aside['duplicate']} repeat another row, {set_aside['empty']} have no words"
        )
    items = np.asarray([key[0] for key, kept in zip(keys, keep, strict=True) if kept], dtype=object)
    return Candidates(frame, items, set_aside)
