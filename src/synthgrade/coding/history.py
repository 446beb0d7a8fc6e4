"""The coders' actions, each recorded in ``history`` so the last one can be taken back: a label (with its
note), a skip, and a resolution (the final label chosen when coders disagree or a suspect is reviewed).

A label sent from a page carries the label the page believed was current (``base``); when another tab
changed it in between, the write is refused (:class:`Conflict`) rather than silently replacing it.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from synthgrade.errors import SynthgradeError


class Conflict(SynthgradeError):
    """The response changed in another tab or process since the page showed it."""


def record(
    db: sqlite3.Connection, coder: str, response_id: str, action: str, before: Any, label: Any, note: Any, now: float
) -> None:
    """One line of ``history``: ``before`` is the row (label, note) the action replaced, or ``None``."""
    db.execute(
        """INSERT INTO history(coder, id, action, before_label, before_note, after_label, after_note, at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            coder,
            response_id,
            action,
            before["label"] if before else None,
            before["note"] if before else None,
            label,
            note,
            now,
        ),
    )


def write_label(db: sqlite3.Connection, response_id: str, coder: str, label: str, note: str, base: str | None) -> None:
    """Commit ``coder``'s label and note; ``base`` is the label the page showed (None: none)."""
    if db.execute("SELECT 1 FROM pool WHERE id = ?", (response_id,)).fetchone() is None:
        raise SynthgradeError(f"no response with id {response_id!r}")
    current = db.execute("SELECT label, note FROM codes WHERE id = ? AND coder = ?", (response_id, coder)).fetchone()
    before = current["label"] if current else None
    if before != base:
        raise Conflict(f"response {response_id} was coded {before!r} in another tab meanwhile; reload to see it")
    now = time.time()
    db.execute(
        """INSERT INTO codes(id, coder, label, note, at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(id, coder) DO UPDATE SET label = excluded.label, note = excluded.note, at = excluded.at""",
        (response_id, coder, label, note, now),
    )
    record(db, coder, response_id, "label", current, label, note, now)
    db.execute("DELETE FROM claims WHERE id = ? AND coder = ?", (response_id, coder))


def write_skip(db: sqlite3.Connection, response_id: str, coder: str) -> None:
    cursor = db.execute("INSERT OR IGNORE INTO skips(id, coder, at) VALUES (?, ?, ?)", (response_id, coder, time.time()))
    if cursor.rowcount:
        record(db, coder, response_id, "skip", None, None, None, time.time())
    db.execute("DELETE FROM claims WHERE id = ? AND coder = ?", (response_id, coder))


def write_resolution(db: sqlite3.Connection, response_id: str, coder: str, label: str, kind: str) -> None:
    """The final label of a response (``kind``: disagreement or suspect); the coders' own labels stay."""
    if db.execute("SELECT 1 FROM codes WHERE id = ?", (response_id,)).fetchone() is None:
        raise SynthgradeError(f"response {response_id!r} has no label to resolve")
    current = db.execute("SELECT label, '' AS note FROM resolutions WHERE id = ?", (response_id,)).fetchone()
    now = time.time()
    db.execute(
        "INSERT OR REPLACE INTO resolutions(id, label, coder, kind, at) VALUES (?, ?, ?, ?, ?)",
        (response_id, label, coder, kind, now),
    )
    record(db, coder, response_id, "resolve:" + kind, current, label, "", now)


def undo_last(db: sqlite3.Connection, coder: str) -> str | None:
    """Take back this coder's last action (label, skip or resolution); return the response it was about."""
    last = db.execute("SELECT * FROM history WHERE coder = ? AND undone = 0 ORDER BY seq DESC LIMIT 1", (coder,)).fetchone()
    if last is None:
        return None
    response_id, action = last["id"], last["action"]
    if action == "skip":
        db.execute("DELETE FROM skips WHERE id = ? AND coder = ?", (response_id, coder))
    elif action == "label":
        if last["before_label"] is None:
            db.execute("DELETE FROM codes WHERE id = ? AND coder = ?", (response_id, coder))
        else:
            db.execute(
                "UPDATE codes SET label = ?, note = ? WHERE id = ? AND coder = ?",
                (last["before_label"], last["before_note"] or "", response_id, coder),
            )
    else:
        if last["before_label"] is None:
            db.execute("DELETE FROM resolutions WHERE id = ?", (response_id,))
        else:
            db.execute("UPDATE resolutions SET label = ? WHERE id = ?", (last["before_label"], response_id))
    db.execute("UPDATE history SET undone = 1 WHERE seq = ?", (last["seq"],))
    if not action.startswith("resolve"):  # the response is shown to this coder again
        db.execute("INSERT OR REPLACE INTO claims(id, coder, at) VALUES (?, ?, ?)", (response_id, coder, time.time()))
    return response_id
