"""What the labels add up to, and the files every other command reads: ``coded.csv`` (one final label per
response) and ``agreement.json``, rewritten atomically after each change, in the background on the page.

The final label of a response is its resolution when there is one, else the label every coder gave;
responses whose coders disagree and that nobody resolved yet stay out of ``coded.csv`` until resolved.
"""

from __future__ import annotations

import csv
import fcntl
import sqlite3
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synthgrade.coding.agreement import agreement_summary
from synthgrade.data.schema import CANONICAL_COLUMNS
from synthgrade.io import atomic_path

CODED_FILE = "coded.csv"
UNCODED_FILE = "uncoded.csv"
AGREEMENT_FILE = "agreement.json"
#: The columns of ``coded.csv``: the canonical ones, who coded each response, and their notes.
CODED_COLUMNS = [*CANONICAL_COLUMNS, "coders", "note"]

_FINAL_QUERY = """
    SELECT p.id, p.text, p.item_id, p.item_text, p.reference, r.label AS resolved,
           c.distinct_labels, c.label, c.coders, c.note
    FROM (SELECT id, COUNT(DISTINCT label) AS distinct_labels, MIN(label) AS label,
                 GROUP_CONCAT(coder || '=' || label, ';') AS coders,
                 GROUP_CONCAT(CASE WHEN note != '' THEN coder || ': ' || note END, '; ') AS note
          FROM (SELECT * FROM codes ORDER BY id, at, coder) GROUP BY id) c
    JOIN pool p ON p.id = c.id LEFT JOIN resolutions r ON r.id = c.id
    ORDER BY p.pos"""


def final_labels(db: sqlite3.Connection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(coded rows with their final label, unresolved disagreements), in pool order, in one query.

    Plain rows, no pandas: this runs after every label.
    """
    coded, disagreements = [], []
    for row in db.execute(_FINAL_QUERY):
        entry = {key: row[key] for key in ("id", "text", "item_id", "item_text", "reference", "coders")}
        entry["note"] = row["note"] or ""
        if row["resolved"] is not None or row["distinct_labels"] == 1:
            coded.append(entry | {"label": row["resolved"] if row["resolved"] is not None else row["label"]})
        else:
            labels = dict(part.split("=", 1) for part in row["coders"].split(";"))
            disagreements.append(entry | {"labels": labels})
    return coded, disagreements


def agreement_of(db: sqlite3.Connection, labels: Sequence[str]) -> dict[str, Any]:
    """Percent agreement and Cohen's kappa of double-coded responses, overall and per item."""
    codes = db.execute("SELECT c.id, c.coder, c.label, p.item_id FROM codes c JOIN pool p USING(id)").fetchall()
    return agreement_summary([tuple(row) for row in codes], labels)


@contextmanager
def export_lock(project: Path) -> Iterator[None]:
    """Makes read-then-write one step across processes, so an older state can never replace a newer one."""
    with open(project / ".export.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write_coded(path: Path, coded: Sequence[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CODED_COLUMNS)
            writer.writerows([row[c] for c in CODED_COLUMNS] for row in coded)


class BackgroundExport:
    """Rewrites the project's files in a thread after each change, so a page action does not wait for it.

    Changes that arrive while a rewrite runs are folded into the next one, which always starts after them:
    the files lag the database by one rewrite at most (tens of milliseconds), and the database, where a
    label is committed before the page hears back, stays the record. ``stop`` writes the files a last time.
    ``export`` is the rewrite (:meth:`CodingStore.export <synthgrade.coding.store.CodingStore.export>`).
    """

    def __init__(self, export: Callable[[], None]) -> None:
        self.export = export
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="coding-export", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def changed(self) -> None:
        self._idle.clear()
        self._wake.set()

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until every change so far is in the files (for tests and shutdown)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            try:
                self.export()
            except Exception:  # the next change (or the next start) writes them; the labels are safe in sqlite
                traceback.print_exc()
            if not self._wake.is_set():
                self._idle.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)
        self.export()
