"""Content-addressed cache of model calls in sqlite (WAL).

The key hashes backend, model, messages, sampling parameters and the call index; each completed call
is committed on arrival, so a run killed at any moment keeps every answer it already received and a
rerun asks only for the rest. Failed calls are never stored (a rerun retries them). API keys are never
part of a request record.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from synthgrade.errors import SynthgradeError
from synthgrade.io import stable_hash

CACHE_FILE = "calls.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL
)
"""


BATCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_requests (
    key TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def call_key(
    backend: str,
    model: str,
    messages: list[dict],
    sampling: dict[str, Any],
    call_index: int,
    strategy: str = "generate",
    continuation: bool = False,
    server: str | None = None,
) -> str:
    """The cache address of one call; strategies never share answers, even for identical prompts.

    ``generate`` calls (and chat prompts) hash exactly what they hashed before strategies and
    continuation prompts existed, so caches written then stay valid.
    """
    parts: dict[str, Any] = {"backend": backend, "model": model, "messages": messages, "sampling": sampling}
    parts["call_index"] = call_index
    if strategy != "generate":
        parts["strategy"] = strategy
    if continuation:
        parts["continuation"] = True
    if server:  # OpenAI's own API (no --base-url) keeps the keys it had
        parts["server"] = server
    return stable_hash(parts, length=32)


class CallCache:
    """Thread-safe get/put of completions by key; ``path=None`` keeps everything in memory."""

    def __init__(self, directory: str | Path | None) -> None:
        self.path = Path(directory) / CACHE_FILE if directory is not None else None
        target = ":memory:"
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SynthgradeError(f"{self.path.parent}: cannot create cache folder ({exc.strerror})") from None
            target = str(self.path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(target, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives kill -9
            self._db.execute(SCHEMA)
            self._db.execute(BATCH_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise SynthgradeError(f"{target}: cannot open the call cache ({exc})") from None

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM calls WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, backend: str, model: str, request: dict, response: dict) -> None:
        payload = (
            key,
            backend,
            model,
            json.dumps(request, sort_keys=True, ensure_ascii=False),
            json.dumps(response, sort_keys=True, ensure_ascii=False),
            time.time(),
        )
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO calls VALUES (?, ?, ?, ?, ?, ?)", payload)
            self._db.commit()

    def record_batch(self, batch_id: str, keys: list[str]) -> None:
        """Remember that ``keys`` were submitted in ``batch_id``, so a killed run resumes it instead of paying twice."""
        now = time.time()
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO batch_requests VALUES (?, ?, ?)", [(k, batch_id, now) for k in keys])
            self._db.commit()

    def batches_for(self, keys: list[str]) -> dict[str, str]:
        """The open batch id of each key that has one."""
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, batch_id FROM batch_requests WHERE key IN ({marks})", chunk).fetchall()
                found.update(dict(rows))
        return found

    def forget_batch(self, batch_id: str) -> None:
        """A batch is over: its answers are in the cache, and what it missed goes to a new batch or live calls."""
        with self._lock:
            self._db.execute("DELETE FROM batch_requests WHERE batch_id = ?", (batch_id,))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
