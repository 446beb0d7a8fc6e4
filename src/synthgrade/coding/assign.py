"""What a coder is shown next: their open claim, a response set aside for double coding, then the model's
queue and the shuffled pool; and how one response looks to a coder (blind to the other coders' labels)."""

from __future__ import annotations

import sqlite3
from typing import Any

#: Seconds a response handed to one coder is kept from the others (a coder who left frees it after this).
CLAIM_SECONDS = 600.0

# Not coded by anyone, not skipped by this coder, not claimed by another coder recently.
_UNCODED = """NOT EXISTS (SELECT 1 FROM codes WHERE id = {0}.id)
    AND NOT EXISTS (SELECT 1 FROM skips WHERE id = {0}.id AND coder = ?)
    AND NOT EXISTS (SELECT 1 FROM claims WHERE id = {0}.id AND coder != ? AND at > ?)"""


def claim_next(db: sqlite3.Connection, coder: str, double: bool, now: float) -> str | None:
    """The id this coder should see now, claimed for them; ``None`` when nothing is left.

    In order: the response they were shown last and have not answered (a restart continues there),
    a response another coder labelled that is set aside for double coding (when ``double``), then the
    uncoded responses in the model's queue order (pool order, shuffled by the seed, before a model exists).
    """
    row = db.execute(
        """SELECT c.id FROM claims c WHERE c.coder = ?
           AND NOT EXISTS (SELECT 1 FROM codes WHERE id = c.id AND coder = ?)
           AND NOT EXISTS (SELECT 1 FROM skips WHERE id = c.id AND coder = ?)""",
        (coder, coder, coder),
    ).fetchone()
    free = (coder, coder, now - CLAIM_SECONDS)  # not answered or skipped by this coder, not claimed by another
    if row is None and double:
        row = db.execute(
            """SELECT o.id FROM codes o JOIN pool p ON p.id = o.id
               WHERE p.double = 1 AND o.coder != ?
               AND NOT EXISTS (SELECT 1 FROM codes WHERE id = o.id AND coder = ?)
               AND NOT EXISTS (SELECT 1 FROM skips WHERE id = o.id AND coder = ?)
               AND NOT EXISTS (SELECT 1 FROM claims WHERE id = o.id AND coder != ? AND at > ?)
               GROUP BY o.id HAVING COUNT(*) = 1 ORDER BY MIN(o.at) LIMIT 1""",
            (coder, coder, coder, coder, now - CLAIM_SECONDS),
        ).fetchone()
    if row is None:  # the model's queue first (a few hundred rows, in rank order) ...
        row = db.execute(f"SELECT q.id FROM queue q WHERE {_UNCODED.format('q')} ORDER BY q.rank LIMIT 1", free).fetchone()
    if row is None:  # ... then the pool in its shuffled order (an index walk that stops at the first free row)
        row = db.execute(f"SELECT p.id FROM pool p WHERE {_UNCODED.format('p')} ORDER BY p.shuffle LIMIT 1", free).fetchone()
    if row is None:
        return None
    db.execute("INSERT OR REPLACE INTO claims(id, coder, at) VALUES (?, ?, ?)", (row["id"], coder, now))
    return row["id"]


def shown(db: sqlite3.Connection, response_id: str, coder: str) -> dict[str, Any]:
    """One response as the page shows it to ``coder``: never another coder's label (blind double coding)."""
    pool = db.execute("SELECT * FROM pool WHERE id = ?", (response_id,)).fetchone()
    mine = db.execute("SELECT label, note FROM codes WHERE id = ? AND coder = ?", (response_id, coder)).fetchone()
    others = db.execute("SELECT COUNT(*) FROM codes WHERE id = ? AND coder != ?", (response_id, coder)).fetchone()[0]
    queued = db.execute("SELECT reason FROM queue WHERE id = ?", (response_id,)).fetchone()
    # A model trained on the first coder's label would give that label away: no suggestion for a second coder.
    suggestion = None
    if not others:
        found = db.execute("SELECT label, confidence FROM suggestions WHERE id = ?", (response_id,)).fetchone()
        suggestion = dict(found) if found else None
    return {
        "id": pool["id"],
        "text": pool["text"],
        "item_id": pool["item_id"],
        "item_text": pool["item_text"],
        "reference": pool["reference"],
        "label": mine["label"] if mine else None,
        "note": mine["note"] if mine else "",
        "second_coder": bool(others),
        "suggestion": suggestion,
        "reason": queued["reason"] if queued else None,
    }
