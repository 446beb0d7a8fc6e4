"""The results store: ``trials.jsonl``, one complete JSON line per finished trial, appended atomically.

Each append writes one whole line, flushes and fsyncs before returning, so a killed sweep leaves at
most one partial trailing line; :meth:`ResultsStore.load` ignores it (and the next append cuts it off),
so that trial simply runs again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from synthgrade.experiment.layout import FAILURES_FILE, TRIALS_FILE
from synthgrade.io import to_jsonable

__all__ = ["FAILURES_FILE", "TRIALS_FILE", "ResultsStore"]


class ResultsStore:
    """Append-only JSON-lines file keyed by ``row['key']``; the last row for a key wins."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.ignored_partial = False
        self.bad_lines: list[int] = []

    def _repair(self) -> None:
        """Cut a partial last line (a write interrupted by a kill) so new lines start clean."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            data = self._read_bytes()
            keep = data.rfind(b"\n") + 1
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
            self.ignored_partial = True

    def _read_bytes(self) -> bytes:
        return self.path.read_bytes() if self.path.exists() else b""

    def load(self) -> dict[str, dict[str, Any]]:
        """Finished rows by key. A partial trailing line is ignored; a corrupt complete line is skipped and counted."""
        data = self._read_bytes()
        rows: dict[str, dict[str, Any]] = {}
        self.bad_lines = []
        self.ignored_partial = bool(data) and not data.endswith(b"\n")
        lines = data.split(b"\n")
        complete = lines[:-1]  # the element after the last newline is empty or a partial line
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                self.bad_lines.append(number)
                continue
            if isinstance(row, dict) and isinstance(row.get("key"), str):
                rows[row["key"]] = row
            else:
                self.bad_lines.append(number)
        return rows

    def rows(self) -> list[dict[str, Any]]:
        return list(self.load().values())

    def append(self, row: dict[str, Any]) -> None:
        """Write one complete line, flush and fsync, so it is either wholly there or not at all."""
        if "key" not in row:
            raise ValueError("a result row needs a 'key'")
        line = json.dumps(to_jsonable(row), ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        with open(self.path, "ab") as handle:
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
