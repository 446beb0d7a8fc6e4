"""The coding project on disk: one sqlite file (WAL, ``synchronous=FULL``) that holds every label the moment
it is given, and the files every other command reads, rewritten atomically after each change.

Tables: ``pool`` (the responses), ``codes`` (one row per response and coder; the primary key makes a
second row impossible), ``history`` (every action, for undo), ``skips``, ``claims`` (which response a
coder is looking at, so a restarted page shows it again and two coders are not handed the same one),
``resolutions`` (the label chosen when coders disagree or a suspect is reviewed), and what the model in
the loop last computed: ``queue``, ``suggestions``, ``curve``, ``suspects``.

Every write runs in one ``BEGIN IMMEDIATE`` transaction, so two tabs or two server processes on the
same project serialise instead of overwriting each other. A label sent from a page carries the label
the page believed was current (``base``); when another tab changed it in between, the write is
refused (:class:`Conflict`) rather than silently replacing it.
"""

from __future__ import annotations

import csv
import fcntl
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from synthgrade.data.schema import CANONICAL_COLUMNS
from synthgrade.errors import SynthgradeError
from synthgrade.io import atomic_path, stable_hash, write_json

DATABASE = "coding.sqlite"
CODED_FILE = "coded.csv"
UNCODED_FILE = "uncoded.csv"
AGREEMENT_FILE = "agreement.json"
#: Seconds a response handed to one coder is kept from the others (a coder who left frees it after this).
CLAIM_SECONDS = 600.0
#: The coder name of labels that came with ``--coded`` or the pool file.
IMPORTED = "imported"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pool(
    pos INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, text TEXT NOT NULL, item_id TEXT, item_text TEXT,
    reference TEXT, shuffle TEXT NOT NULL, double INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS codes(
    id TEXT NOT NULL REFERENCES pool(id), coder TEXT NOT NULL, label TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL, PRIMARY KEY(id, coder));
CREATE TABLE IF NOT EXISTS skips(id TEXT NOT NULL, coder TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY(id, coder));
CREATE TABLE IF NOT EXISTS claims(id TEXT PRIMARY KEY, coder TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS history(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, coder TEXT NOT NULL, id TEXT NOT NULL, action TEXT NOT NULL,
    before_label TEXT, before_note TEXT, after_label TEXT, after_note TEXT, at REAL NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS resolutions(
    id TEXT PRIMARY KEY REFERENCES pool(id), label TEXT NOT NULL, coder TEXT NOT NULL, kind TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS queue(id TEXT PRIMARY KEY, rank INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS suggestions(id TEXT PRIMARY KEY, label TEXT NOT NULL, confidence REAL NOT NULL);
CREATE TABLE IF NOT EXISTS curve(n INTEGER PRIMARY KEY, macro_f1 REAL, ci_low REAL, ci_high REAL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS suspects(
    id TEXT PRIMARY KEY, rank INTEGER NOT NULL, given_label TEXT NOT NULL, model_label TEXT NOT NULL,
    model_confidence REAL NOT NULL, given_label_confidence REAL NOT NULL);
CREATE INDEX IF NOT EXISTS history_by_coder ON history(coder, undone, seq);
CREATE INDEX IF NOT EXISTS codes_by_coder ON codes(coder);
CREATE INDEX IF NOT EXISTS pool_by_shuffle ON pool(shuffle);
CREATE INDEX IF NOT EXISTS queue_by_rank ON queue(rank);
"""


class Conflict(SynthgradeError):
    """The response changed in another tab or process since the page showed it."""


@dataclass(frozen=True)
class Settings:
    """What a project was created with; kept in ``meta`` so a restart cannot silently change it."""

    labels: tuple[str, ...]
    double: float = 0.0
    seed: int = 0


def _double_share(response_id: str, seed: int) -> float:
    """A fixed number in [0, 1) per response: responses below ``--double`` go to a second coder."""
    return int(stable_hash([seed, "double", response_id], 12), 16) / 16**12


def _clean(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return text if text.strip() else None


class CodingStore:
    """All reads and writes of one coding project (a folder)."""

    def __init__(self, project: str | Path) -> None:
        self.project = Path(project)
        self.path = self.project / DATABASE
        self._settings: Settings | None = None

    # -- connections --------------------------------------------------------------------------------------

    def connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")  # a committed label survives kill -9 and power loss
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=30000")
        return connection

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        connection = self.connect()
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``BEGIN IMMEDIATE`` takes the write lock up front so writers queue, never interleave."""
        connection = self.connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    # -- creation -----------------------------------------------------------------------------------------

    def open(self, pool: pd.DataFrame, settings: Settings, coded: pd.DataFrame | None = None) -> dict[str, int]:
        """Create the project or reopen it: add pool rows not yet in it, import given labels once.

        Returns counts (``added``, ``imported``). A pool row whose id is known with another text, or a
        restart with other labels or another ``--double``, is refused (the project would mean two things).
        """
        self.project.mkdir(parents=True, exist_ok=True)
        with self.reading() as db:
            db.executescript(SCHEMA)
        with self.writing() as db:
            stored = {row["key"]: json.loads(row["value"]) for row in db.execute("SELECT key, value FROM meta")}
            wanted = {"labels": list(settings.labels), "double": settings.double, "seed": settings.seed}
            if stored:
                for key, value in wanted.items():
                    if stored.get(key) != value:
                        raise SynthgradeError(
                            f"{self.project}: the project was started with {key} {stored.get(key)!r}, not {value!r}; "
                            "use the same settings or another --out"
                        )
            else:
                db.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in wanted.items()])
            frames = [pool] + ([coded] if coded is not None else [])
            added = self._add_rows(db, pd.concat(frames, ignore_index=True), settings)
            imported = 0
            for frame in frames:
                if "label" not in frame.columns:
                    continue
                for row in frame.itertuples(index=False):
                    label = _clean(row.label)
                    if label is None:
                        continue
                    if label not in settings.labels:
                        raise SynthgradeError(f"response {row.id}: label {label!r} is not one of {', '.join(settings.labels)}")
                    cursor = db.execute(
                        "INSERT OR IGNORE INTO codes(id, coder, label, note, at) VALUES (?, ?, ?, '', ?)",
                        (str(row.id), IMPORTED, label, time.time()),
                    )
                    imported += cursor.rowcount
        self.export()
        return {"added": added, "imported": imported}

    def _add_rows(self, db: sqlite3.Connection, frame: pd.DataFrame, settings: Settings) -> int:
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

    def settings(self) -> Settings:
        """The project's settings (fixed once created, so read once)."""
        if self._settings is None:
            with self.reading() as db:
                meta = {row["key"]: json.loads(row["value"]) for row in db.execute("SELECT key, value FROM meta")}
            if not meta:
                raise SynthgradeError(f"{self.project}: not a coding project (no settings in {DATABASE})")
            self._settings = Settings(tuple(meta["labels"]), meta["double"], meta["seed"])
        return self._settings

    # -- what to show next --------------------------------------------------------------------------------

    def next_for(self, coder: str) -> dict[str, Any] | None:
        """The response this coder should see now, claimed for them; ``None`` when nothing is left.

        In order: the response they were shown last and have not answered (a restart continues there),
        a response another coder labelled that is set aside for double coding, then the uncoded
        responses in the model's queue order (pool order, shuffled by the seed, before a model exists).
        """
        now = time.time()
        with self.writing() as db:
            row = db.execute(
                """SELECT c.id FROM claims c WHERE c.coder = ?
                   AND NOT EXISTS (SELECT 1 FROM codes WHERE id = c.id AND coder = ?)
                   AND NOT EXISTS (SELECT 1 FROM skips WHERE id = c.id AND coder = ?)""",
                (coder, coder, coder),
            ).fetchone()
            free = (coder, coder, now - CLAIM_SECONDS)  # not answered or skipped by this coder, not claimed by another
            if row is None and self.settings().double > 0:
                row = db.execute(
                    """SELECT o.id FROM codes o JOIN pool p ON p.id = o.id
                       WHERE p.double = 1 AND o.coder != ?
                       AND NOT EXISTS (SELECT 1 FROM codes WHERE id = o.id AND coder = ?)
                       AND NOT EXISTS (SELECT 1 FROM skips WHERE id = o.id AND coder = ?)
                       AND NOT EXISTS (SELECT 1 FROM claims WHERE id = o.id AND coder != ? AND at > ?)
                       GROUP BY o.id HAVING COUNT(*) = 1 ORDER BY MIN(o.at) LIMIT 1""",
                    (coder, coder, coder, coder, now - CLAIM_SECONDS),
                ).fetchone()
            uncoded = """NOT EXISTS (SELECT 1 FROM codes WHERE id = {0}.id)
                AND NOT EXISTS (SELECT 1 FROM skips WHERE id = {0}.id AND coder = ?)
                AND NOT EXISTS (SELECT 1 FROM claims WHERE id = {0}.id AND coder != ? AND at > ?)"""
            if row is None:  # the model's queue first (a few hundred rows, in rank order) ...
                row = db.execute(f"SELECT q.id FROM queue q WHERE {uncoded.format('q')} ORDER BY q.rank LIMIT 1", free).fetchone()
            if row is None:  # ... then the pool in its shuffled order (an index walk that stops at the first free row)
                row = db.execute(
                    f"SELECT p.id FROM pool p WHERE {uncoded.format('p')} ORDER BY p.shuffle LIMIT 1", free
                ).fetchone()
            if row is None:
                return None
            db.execute("INSERT OR REPLACE INTO claims(id, coder, at) VALUES (?, ?, ?)", (row["id"], coder, now))
            return self._shown(db, row["id"], coder)

    def _shown(self, db: sqlite3.Connection, response_id: str, coder: str) -> dict[str, Any]:
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

    def response(self, response_id: str, coder: str) -> dict[str, Any]:
        with self.reading() as db:
            if db.execute("SELECT 1 FROM pool WHERE id = ?", (response_id,)).fetchone() is None:
                raise SynthgradeError(f"no response with id {response_id!r}")
            return self._shown(db, response_id, coder)

    # -- actions ------------------------------------------------------------------------------------------

    def label(
        self, response_id: str, coder: str, label: str, note: str = "", base: str | None = None, export: bool = True
    ) -> None:
        """Commit ``coder``'s label (and note) for a response; ``base`` is the label the page showed (None: none).

        ``export=False`` leaves the file rewrite to the caller (the page's :class:`BackgroundExport`)."""
        if label not in self.settings().labels:
            raise SynthgradeError(f"label {label!r} is not one of {', '.join(self.settings().labels)}")
        with self.writing() as db:
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
            self._record(db, coder, response_id, "label", current, label, note, now)
            db.execute("DELETE FROM claims WHERE id = ? AND coder = ?", (response_id, coder))
        if export:
            self.export()

    def skip(self, response_id: str, coder: str) -> None:
        with self.writing() as db:
            cursor = db.execute("INSERT OR IGNORE INTO skips(id, coder, at) VALUES (?, ?, ?)", (response_id, coder, time.time()))
            if cursor.rowcount:
                self._record(db, coder, response_id, "skip", None, None, None, time.time())
            db.execute("DELETE FROM claims WHERE id = ? AND coder = ?", (response_id, coder))

    def resolve(self, response_id: str, coder: str, label: str, kind: str, export: bool = True) -> None:
        """The final label of a response, chosen on the disagreement or suspect page; the coders' labels stay."""
        if label not in self.settings().labels:
            raise SynthgradeError(f"label {label!r} is not one of {', '.join(self.settings().labels)}")
        with self.writing() as db:
            if db.execute("SELECT 1 FROM codes WHERE id = ?", (response_id,)).fetchone() is None:
                raise SynthgradeError(f"response {response_id!r} has no label to resolve")
            current = db.execute("SELECT label, '' AS note FROM resolutions WHERE id = ?", (response_id,)).fetchone()
            now = time.time()
            db.execute(
                "INSERT OR REPLACE INTO resolutions(id, label, coder, kind, at) VALUES (?, ?, ?, ?, ?)",
                (response_id, label, coder, kind, now),
            )
            self._record(db, coder, response_id, "resolve:" + kind, current, label, "", now)
        if export:
            self.export()

    def _record(
        self, db: sqlite3.Connection, coder: str, response_id: str, action: str, before: Any, label: Any, note: Any, now: float
    ) -> None:
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

    def undo(self, coder: str, export: bool = True) -> str | None:
        """Take back this coder's last action (label, skip or resolution); return the response it was about."""
        with self.writing() as db:
            last = db.execute(
                "SELECT * FROM history WHERE coder = ? AND undone = 0 ORDER BY seq DESC LIMIT 1", (coder,)
            ).fetchone()
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
            if not action.startswith("resolve"):
                db.execute("INSERT OR REPLACE INTO claims(id, coder, at) VALUES (?, ?, ?)", (response_id, coder, time.time()))
        if export:
            self.export()
        return response_id

    # -- what the labels add up to -------------------------------------------------------------------------

    def codes(self) -> pd.DataFrame:
        with self.reading() as db:
            return pd.read_sql_query("SELECT id, coder, label, note, at FROM codes ORDER BY at", db)

    def _final(self, db: sqlite3.Connection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(coded rows with their final label, unresolved disagreements), in pool order, in one query.

        The final label is the resolution when there is one, else the label every coder gave; responses
        whose coders disagree and that nobody resolved yet are left out of the coded rows until resolved.
        Plain rows, no pandas: this runs after every label.
        """
        coded, disagreements = [], []
        query = """
            SELECT p.id, p.text, p.item_id, p.item_text, p.reference, r.label AS resolved,
                   c.distinct_labels, c.label, c.coders, c.note
            FROM (SELECT id, COUNT(DISTINCT label) AS distinct_labels, MIN(label) AS label,
                         GROUP_CONCAT(coder || '=' || label, ';') AS coders,
                         GROUP_CONCAT(CASE WHEN note != '' THEN coder || ': ' || note END, '; ') AS note
                  FROM (SELECT * FROM codes ORDER BY id, at, coder) GROUP BY id) c
            JOIN pool p ON p.id = c.id LEFT JOIN resolutions r ON r.id = c.id
            ORDER BY p.pos"""
        for row in db.execute(query):
            entry = {key: row[key] for key in ("id", "text", "item_id", "item_text", "reference", "coders")}
            entry["note"] = row["note"] or ""
            if row["resolved"] is not None or row["distinct_labels"] == 1:
                coded.append(entry | {"label": row["resolved"] if row["resolved"] is not None else row["label"]})
            else:
                labels = dict(part.split("=", 1) for part in row["coders"].split(";"))
                disagreements.append(entry | {"labels": labels})
        return coded, disagreements

    def final_rows(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:meth:`_final` as frames: coded rows (canonical columns + coders, note) and open disagreements."""
        with self.reading() as db:
            coded, disagreements = self._final(db)
        columns = [*CANONICAL_COLUMNS, "coders", "note"]
        return pd.DataFrame(coded, columns=columns), pd.DataFrame(disagreements, columns=[*columns, "labels"])

    def uncoded(self) -> pd.DataFrame:
        with self.reading() as db:
            return pd.read_sql_query(
                """SELECT id, text, item_id, item_text, reference FROM pool p
                   WHERE NOT EXISTS (SELECT 1 FROM codes WHERE id = p.id) ORDER BY pos""",
                db,
            )

    def export(self) -> None:
        """Rewrite ``coded.csv`` and ``agreement.json`` from the database, atomically.

        A file lock makes read-then-write one step across processes, so an older state can never replace
        a newer one; a crash between a commit and this leaves the database right and the next write (or
        the next start) brings the files up to date.
        """
        with open(self.project / ".export.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with self.reading() as db:
                db.execute("BEGIN")  # one snapshot for both files
                coded, _ = self._final(db)
                agreement = self.agreement(db)
                db.execute("COMMIT")
            columns = [*CANONICAL_COLUMNS, "coders", "note"]
            with atomic_path(self.project / CODED_FILE) as tmp:
                with open(tmp, "w", newline="", encoding="utf-8") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(columns)
                    writer.writerows([row[c] for c in columns] for row in coded)
            write_json(self.project / AGREEMENT_FILE, agreement)

    def agreement(self, db: sqlite3.Connection | None = None) -> dict[str, Any]:
        """Percent agreement and Cohen's kappa of double-coded responses, overall and per item."""
        from synthgrade.coding.agreement import agreement_summary

        if db is None:
            with self.reading() as own:
                return self.agreement(own)
        codes = db.execute("SELECT c.id, c.coder, c.label, p.item_id FROM codes c JOIN pool p USING(id)").fetchall()
        return agreement_summary([tuple(row) for row in codes], self.settings().labels)

    def write_uncoded(self) -> Path:
        target = self.project / UNCODED_FILE
        with atomic_path(target) as tmp:
            self.uncoded().to_csv(tmp, index=False)
        return target

    # -- what the model in the loop wrote ------------------------------------------------------------------

    def store_model_results(
        self,
        n: int,
        curve: dict[str, float | None] | None,
        suggestions: Sequence[tuple[str, str, float]],
        queue: Sequence[tuple[str, int, str]],
        suspects: Sequence[tuple[str, int, str, str, float, float]] | None,
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
                self._replace_suspects(db, suspects)

    def store_suspects(self, suspects: Sequence[tuple[str, int, str, str, float, float]]) -> None:
        with self.writing() as db:
            self._replace_suspects(db, suspects)

    def _replace_suspects(self, db: sqlite3.Connection, suspects: Sequence[tuple[str, int, str, str, float, float]]) -> None:
        db.execute("DELETE FROM suspects")
        db.executemany(
            """INSERT INTO suspects(id, rank, given_label, model_label, model_confidence, given_label_confidence)
               VALUES (?, ?, ?, ?, ?, ?)""",
            suspects,
        )

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

    def counts(self) -> dict[str, Any]:
        """What the panel shows: final labels per label and per item, progress, open disagreements."""
        with self.reading() as db:
            coded, disagreements = self._final(db)
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


class BackgroundExport:
    """Rewrites the project's files in a thread after each change, so a page action does not wait for it.

    Changes that arrive while a rewrite runs are folded into the next one, which always starts after them:
    the files lag the database by one rewrite at most (tens of milliseconds), and the database, where a
    label is committed before the page hears back, stays the record. ``stop`` writes the files a last time.
    """

    def __init__(self, store: CodingStore) -> None:
        import threading

        self.store = store
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
        import traceback

        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            try:
                self.store.export()
            except Exception:  # the next change (or the next start) writes them; the labels are safe in sqlite
                traceback.print_exc()
            if not self._wake.is_set():
                self._idle.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)
        self.store.export()
