"""The coding project's sqlite file: its tables, its connections, and the settings it was created with.

One sqlite file (WAL, ``synchronous=FULL``) holds every label the moment it is given. Tables: ``pool``
(the responses), ``codes`` (one row per response and coder; the primary key makes a second row
impossible), ``history`` (every action, for undo), ``skips``, ``claims`` (which response a coder is
looking at, so a restarted page shows it again and two coders are not handed the same one),
``resolutions`` (the label chosen when coders disagree or a suspect is reviewed), and what the model in
the loop last computed: ``queue``, ``suggestions``, ``curve``, ``suspects``.

Every write runs in one ``BEGIN IMMEDIATE`` transaction (:func:`writing`), so two tabs or two server
processes on the same project serialise instead of overwriting each other.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from synthgrade.errors import SynthgradeError

DATABASE = "coding.sqlite"

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


@dataclass(frozen=True)
class Settings:
    """What a project was created with; kept in ``meta`` so a restart cannot silently change it."""

    labels: tuple[str, ...]
    double: float = 0.0
    seed: int = 0


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")  # a committed label survives kill -9 and power loss
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


@contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(path)
    try:
        yield connection
    finally:
        connection.close()


@contextmanager
def writing(path: Path) -> Iterator[sqlite3.Connection]:
    """One write transaction; ``BEGIN IMMEDIATE`` takes the write lock up front so writers queue, never interleave."""
    connection = connect(path)
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


def create_tables(path: Path) -> None:
    with reading(path) as db:
        db.executescript(SCHEMA)


def _meta(db: sqlite3.Connection) -> dict[str, object]:
    return {row["key"]: json.loads(row["value"]) for row in db.execute("SELECT key, value FROM meta")}


def keep_settings(db: sqlite3.Connection, project: Path, settings: Settings) -> None:
    """Store the settings of a new project; refuse a restart with other labels, ``--double`` or seed."""
    stored = _meta(db)
    wanted = {"labels": list(settings.labels), "double": settings.double, "seed": settings.seed}
    if not stored:
        db.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in wanted.items()])
        return
    for key, value in wanted.items():
        if stored.get(key) != value:
            raise SynthgradeError(
                f"{project}: the project was started with {key} {stored.get(key)!r}, not {value!r}; "
                "use the same settings or another --out"
            )


def read_settings(db: sqlite3.Connection, project: Path) -> Settings:
    meta = _meta(db)
    if not meta:
        raise SynthgradeError(f"{project}: not a coding project (no settings in {DATABASE})")
    return Settings(tuple(meta["labels"]), meta["double"], meta["seed"])
