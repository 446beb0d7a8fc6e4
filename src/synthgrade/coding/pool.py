"""The responses of a coding project: added once each, in a seeded order, some set aside for a second coder,
with the labels that came with them imported under the coder name :data:`IMPORTED`."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

import pandas as pd

from synthgrade.coding.database import Settings
from synthgrade.errors import SynthgradeError
from synthgrade.io import stable_hash

#: The coder name of labels that came with ``--coded`` or the pool file.
IMPORTED = "imported"


def _double_share(response_id: str, seed: int) -> float:
    """A fixed number in [0, 1) per response: responses below ``--double`` go to a second coder."""
    return int(stable_hash([seed, "double", response_id], 12), 16) / 16**12


def _clean(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return text if text.strip() else None


def add_rows(db: sqlite3.Connection, frame: pd.DataFrame, settings: Settings) -> int:
    """Add the responses not yet in the pool; an id already there with another text is refused."""
    known = {row["id"]: row["text"] for row in db.execute("SELECT id, text FROM pool")}
    added = 0
    for row in frame.to_dict("records"):
        response_id, text = str(row["id"]), str(row["text"])
        if response_id in known:
            if known[response_id] != text:
                raise SynthgradeError(f"response {response_id}: the project holds another text under this id")
            continue
        known[response_id] = text
        db.execute(
            "INSERT INTO pool(id, text, item_id, item_text, reference, shuffle, double) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                response_id,
                text,
                _clean(row.get("item_id")),
                _clean(row.get("item_text")),
                _clean(row.get("reference")),
                stable_hash([settings.seed, response_id], 16),
                int(_double_share(response_id, settings.seed) < settings.double),
            ),
        )
        added += 1
    return added


def import_labels(db: sqlite3.Connection, frames: Sequence[pd.DataFrame], labels: Sequence[str]) -> int:
    """Record the labels the frames carry as :data:`IMPORTED` codes, once; returns how many were new."""
    imported = 0
    for frame in frames:
        if "label" not in frame.columns:
            continue
        for row in frame.itertuples(index=False):
            label = _clean(row.label)
            if label is None:
                continue
            if label not in labels:
                raise SynthgradeError(f"response {row.id}: label {label!r} is not one of {', '.join(labels)}")
            cursor = db.execute(
                "INSERT OR IGNORE INTO codes(id, coder, label, note, at) VALUES (?, ?, ?, '', ?)",
                (str(row.id), IMPORTED, label, time.time()),
            )
            imported += cursor.rowcount
    return imported
