"""The coding project on disk: :class:`CodingStore` is every read and write of one project folder.

Labels are committed to the sqlite file (:mod:`~synthgrade.coding.database`) the moment they are given,
and the files every other command reads are rewritten from it (:mod:`~synthgrade.coding.export`). The
SQL of each concern lives beside it: the pool (:mod:`~synthgrade.coding.pool`), what to show next
(:mod:`~synthgrade.coding.assign`), the coders' actions and undo (:mod:`~synthgrade.coding.history`).
This class opens the connection and the transaction around each, and owns what the model in the loop
last computed (``queue``, ``suggestions``, ``curve``, ``suspects``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from synthgrade.coding import assign, database, history
from synthgrade.coding.database import DATABASE, Settings
from synthgrade.coding.export import (
    AGREEMENT_FILE,
    CODED_COLUMNS,
    CODED_FILE,
    UNCODED_FILE,
    agreement_of,
    export_lock,
    final_labels,
    write_coded,
)
from synthgrade.coding.pool import add_rows, import_labels
from synthgrade.errors import SynthgradeError
from synthgrade.io import atomic_path, write_json

#: A suspected miscoding: (id, rank, given label, model label, model confidence, confidence in the given label).
Suspect = tuple[str, int, str, str, float, float]


class CodingStore:
    """All reads and writes of one coding project (a folder)."""

    def __init__(self, project: str | Path) -> None:
        self.project = Path(project)
        self.path = self.project / DATABASE
        self._settings: Settings | None = None

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with database.reading(self.path) as db:
            yield db

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        with database.writing(self.path) as db:
            yield db

    # -- creation -----------------------------------------------------------------------------------------

    def open(self, pool: pd.DataFrame, settings: Settings, coded: pd.DataFrame | None = None) -> dict[str, int]:
        """Create the project or reopen it: add pool rows not yet in it, import given labels once.

        Returns counts (``added``, ``imported``). A pool row whose id is known with another text, or a
        restart with other labels or another ``--double``, is refused (the project would mean two things).
        """
        self.project.mkdir(parents=True, exist_ok=True)
        database.create_tables(self.path)
        with self.writing() as db:
            database.keep_settings(db, self.project, settings)
            frames = [pool] + ([coded] if coded is not None else [])
            added = add_rows(db, pd.concat(frames, ignore_index=True), settings)
            imported = import_labels(db, frames, settings.labels)
        self.export()
        return {"added": added, "imported": imported}

    def settings(self) -> Settings:
        """The project's settings (fixed once created, so read once)."""
        if self._settings is None:
            with self.reading() as db:
                self._settings = database.read_settings(db, self.project)
        return self._settings

    def _check_label(self, label: str) -> None:
        if label not in self.settings().labels:
            raise SynthgradeError(f"label {label!r} is not one of {', '.join(self.settings().labels)}")

    # -- what to show next --------------------------------------------------------------------------------

    def next_for(self, coder: str) -> dict[str, Any] | None:
        """The response this coder should see now, claimed for them; ``None`` when nothing is left
        (the order: :func:`~synthgrade.coding.assign.claim_next`)."""
        double = self.settings().double > 0
        with self.writing() as db:
            response_id = assign.claim_next(db, coder, double, time.time())
            return assign.shown(db, response_id, coder) if response_id is not None else None

    def response(self, response_id: str, coder: str) -> dict[str, Any]:
        with self.reading() as db:
            if db.execute("SELECT 1 FROM pool WHERE id = ?", (response_id,)).fetchone() is None:
                raise SynthgradeError(f"no response with id {response_id!r}")
            return assign.shown(db, response_id, coder)

    # -- actions ------------------------------------------------------------------------------------------

    def label(
        self, response_id: str, coder: str, label: str, note: str = "", base: str | None = None, export: bool = True
    ) -> None:
        """Commit ``coder``'s label (and note) for a response; ``base`` is the label the page showed (None: none).

        ``export=False`` leaves the file rewrite to the caller (the page's
        :class:`~synthgrade.coding.export.BackgroundExport`).
        """
        self._check_label(label)
        with self.writing() as db:
            history.write_label(db, response_id, coder, label, note, base)
        if export:
            self.export()

    def skip(self, response_id: str, coder: str) -> None:
        with self.writing() as db:
            history.write_skip(db, response_id, coder)

    def resolve(self, response_id: str, coder: str, label: str, kind: str, export: bool = True) -> None:
        """The final label of a response, chosen on the disagreement or suspect page; the coders' labels stay."""
        self._check_label(label)
        with self.writing() as db:
            history.write_resolution(db, response_id, coder, label, kind)
        if export:
            self.export()

    def undo(self, coder: str, export: bool = True) -> str | None:
        """Take back this coder's last action (label, skip or resolution); return the response it was about."""
        with self.writing() as db:
            response_id = history.undo_last(db, coder)
        if response_id is None:
            return None
        if export:
            self.export()
        return response_id

    # -- what the labels add up to -------------------------------------------------------------------------

    def codes(self) -> pd.DataFrame:
        with self.reading() as db:
            return pd.read_sql_query("SELECT id, coder, label, note, at FROM codes ORDER BY at", db)

    def final_rows(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:func:`~synthgrade.coding.export.final_labels` as frames: coded rows (canonical columns + coders,
        note) and open disagreements."""
        with self.reading() as db:
            coded, disagreements = final_labels(db)
        return pd.DataFrame(coded, columns=CODED_COLUMNS), pd.DataFrame(disagreements, columns=[*CODED_COLUMNS, "labels"])

    def uncoded(self) -> pd.DataFrame:
        with self.reading() as db:
            return pd.read_sql_query(
                """SELECT id, text, item_id, item_text, reference FROM pool p
                   WHERE NOT EXISTS (SELECT 1 FROM codes WHERE id = p.id) ORDER BY pos""",
                db,
            )

    def export(self) -> None:
        """Rewrite ``coded.csv`` and ``agreement.json`` from the database, atomically.

        A file lock makes read-then-write one step across processes; a crash between a commit and this
        leaves the database right and the next write (or the next start) brings the files up to date.
        """
        with export_lock(self.project):
            with self.reading() as db:
                db.execute("BEGIN")  # one snapshot for both files
                coded, _ = final_labels(db)
                agreement = agreement_of(db, self.settings().labels)
                db.execute("COMMIT")
            write_coded(self.project / CODED_FILE, coded)
            write_json(self.project / AGREEMENT_FILE, agreement)

    def agreement(self) -> dict[str, Any]:
        """Percent agreement and Cohen's kappa of double-coded responses, overall and per item."""
        with self.reading() as db:
            return agreement_of(db, self.settings().labels)

    def write_uncoded(self) -> Path:
        target = self.project / UNCODED_FILE
        with atomic_path(target) as tmp:
            self.uncoded().to_csv(tmp, index=False)
        return target

    def counts(self) -> dict[str, Any]:
        """What the panel shows: final labels per label and per item, progress, open disagreements."""
        with self.reading() as db:
            coded, disagreements = final_labels(db)
            pool_size = db.execute("SELECT COUNT(*) FROM pool").fetchone()[0]
            per_coder = dict(db.execute("SELECT coder, COUNT(*) FROM codes GROUP BY coder").fetchall())
        labels = self.settings().labels
        per_label = dict.fromkeys(labels, 0)
        per_item: dict[str, dict[str, int]] = {}
        for row in coded:
            per_label[row["label"]] += 1
            item = per_item.setdefault(row["item_id"] or "(no item)", dict.fromkeys(labels, 0))
            item[row["label"]] += 1
        return {
            "pool": int(pool_size),
            "coded": len(coded),
            "per_label": per_label,
            "per_item": dict(sorted(per_item.items())),
            "per_coder": per_coder,
            "disagreements": len(disagreements),
        }

    # -- what the model in the loop wrote ------------------------------------------------------------------

    def store_model_results(
        self,
        n: int,
        curve: dict[str, float | None] | None,
        suggestions: Sequence[tuple[str, str, float]],
        queue: Sequence[tuple[str, int, str]],
        suspects: Sequence[Suspect] | None,
    ) -> None:
        with self.writing() as db:
            if curve is not None:
                db.execute(
                    "INSERT OR REPLACE INTO curve(n, macro_f1, ci_low, ci_high, at) VALUES (?, ?, ?, ?, ?)",
                    (n, curve["value"], curve["ci_low"], curve["ci_high"], time.time()),
                )
            db.execute("DELETE FROM suggestions")
            db.executemany("INSERT INTO suggestions(id, label, confidence) VALUES (?, ?, ?)", suggestions)
            db.execute("DELETE FROM queue")
            db.executemany("INSERT INTO queue(id, rank, reason) VALUES (?, ?, ?)", queue)
            if suspects is not None:
                _replace_suspects(db, suspects)

    def store_suspects(self, suspects: Sequence[Suspect]) -> None:
        with self.writing() as db:
            _replace_suspects(db, suspects)

    def open_suspects(self) -> pd.DataFrame:
        """Suspected miscodings nobody has reviewed (a resolution counts as the review)."""
        with self.reading() as db:
            return pd.read_sql_query(
                """SELECT s.*, p.text, p.item_id, p.item_text, p.reference FROM suspects s JOIN pool p USING(id)
                   WHERE NOT EXISTS (SELECT 1 FROM resolutions WHERE id = s.id) ORDER BY s.rank""",
                db,
            )

    def curve(self) -> pd.DataFrame:
        with self.reading() as db:
            return pd.read_sql_query("SELECT n, macro_f1, ci_low, ci_high FROM curve ORDER BY n", db)


def _replace_suspects(db: sqlite3.Connection, suspects: Sequence[Suspect]) -> None:
    db.execute("DELETE FROM suspects")
    db.executemany(
        """INSERT INTO suspects(id, rank, given_label, model_label, model_confidence, given_label_confidence)
           VALUES (?, ?, ?, ?, ?, ?)""",
        suspects,
    )
