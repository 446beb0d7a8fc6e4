"""Chunked reading of response files with bounded memory and exact row locations.

(A SemEval-2013 XML folder is also accepted: its files are small, so it is read whole and then chunked.)

:func:`open_stream` opens a CSV, TSV, JSONL or Parquet file and yields :class:`StreamChunk` objects of at
most ``chunk_size`` rows. Each row keeps its location the same way the whole-file readers do
("answers.csv line 7" with the header as line 1, "answers.parquet row 3"), so messages about a row of a
file with millions of rows still name the right line. Rows are never dropped: a line that cannot be read
(broken JSON, a wrong number of fields, undecodable bytes) is returned as a :class:`Problem` in the chunk.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from synthgrade.data.readers import (
    Problem,
    RawTable,
    check_header,
    decoded_lines,
    delimited_records,
    json_records,
    parquet_error,
    read_header,
    read_raw,
)
from synthgrade.data.schema import WHERE, ColumnMap
from synthgrade.data.validate import canonicalise
from synthgrade.errors import SynthgradeError

STREAM_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
DEFAULT_CHUNK_SIZE = 1000


@dataclass
class StreamChunk:
    """Up to ``chunk_size`` rows as read (source column names, untouched values, ``_where``) plus read problems."""

    rows: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)

    def canonical(self, columns: ColumnMap) -> pd.DataFrame:
        """The rows with mapped columns renamed to the canonical names (``text``, ``item_id``, ...), same index.

        A row whose text is not a string (a JSON number or list) is added to ``problems``, like a broken line.
        """
        rows = self.rows
        if columns.text not in rows.columns:  # a JSONL chunk where no row has the text key
            rows = rows.assign(**{columns.text: None})
        frame, problems = canonicalise(RawTable(rows, [], [str(c) for c in rows.columns]), columns, require_label=False)
        self.problems.extend(problems)
        return frame


@dataclass
class ResponseStream:
    """A response file read chunk by chunk; ``columns`` and ``total_rows`` are known before the first chunk."""

    path: Path
    format: str
    columns: list[str]
    total_rows: int
    chunk_size: int = DEFAULT_CHUNK_SIZE
    #: Parquet only: the file's arrow schema, so writers can keep the source types.
    arrow_schema: object | None = None
    #: SemEval XML only: the rows, read whole (one small file per question), served in chunks.
    preloaded: RawTable | None = None

    def __iter__(self) -> Iterator[StreamChunk]:
        if self.format in {"csv", "tsv"}:
            yield from self._delimited("," if self.format == "csv" else "\t")
        elif self.format == "jsonl":
            yield from self._jsonl()
        elif self.format == "xml":
            yield from self._preloaded()
        else:
            yield from self._parquet()

    # -- readers -------------------------------------------------------------------------------------
    def _chunks(self, rows: Iterator[tuple[str, list | dict]], problems: list[Problem]) -> Iterator[StreamChunk]:
        """Group located rows into chunks; the problems found so far travel with the chunk they occur in."""
        records: list[list | dict] = []
        wheres: list[str] = []
        for where, record in rows:
            records.append(record)
            wheres.append(where)
            if len(records) >= self.chunk_size:
                # the row generator keeps appending to ``problems``: hand over a copy and empty it in place
                yield StreamChunk(self._frame(records, wheres), problems.copy())
                records, wheres = [], []
                problems.clear()
        if records or problems:
            yield StreamChunk(self._frame(records, wheres), problems)

    def _frame(self, records: list[list | dict], wheres: list[str]) -> pd.DataFrame:
        if records and isinstance(records[0], dict):
            frame = pd.DataFrame.from_records(records, columns=self.columns)
        else:
            frame = pd.DataFrame(records, columns=self.columns) if records else pd.DataFrame(columns=self.columns)
        frame = frame.astype(object)
        frame[WHERE] = wheres
        return frame

    def _delimited(self, delimiter: str) -> Iterator[StreamChunk]:
        problems: list[Problem] = []
        reader = csv.reader(decoded_lines(self.path, problems), delimiter=delimiter)
        next(reader, None)  # the header, already read by open_stream
        yield from self._chunks(delimited_records(reader, self.path.name, len(self.columns), problems), problems)

    def _jsonl(self) -> Iterator[StreamChunk]:
        problems: list[Problem] = []
        yield from self._chunks(json_records(decoded_lines(self.path, problems), self.path.name, problems), problems)

    def _preloaded(self) -> Iterator[StreamChunk]:
        assert self.preloaded is not None
        frame, problems = self.preloaded.frame, list(self.preloaded.problems)
        for start in range(0, max(len(frame), 1), self.chunk_size):
            yield StreamChunk(frame.iloc[start : start + self.chunk_size], problems if start == 0 else [])

    def _parquet(self) -> Iterator[StreamChunk]:
        import pyarrow.parquet as pq

        handle = pq.ParquetFile(self.path)
        row = 0
        batches = handle.iter_batches(batch_size=self.chunk_size)
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    return
                frame = batch.to_pandas()
            except Exception as exc:  # a corrupt page part-way through the file
                raise parquet_error(self.path, exc) from None
            frame[WHERE] = [f"{self.path.name} row {i}" for i in range(row + 1, row + len(frame) + 1)]
            row += len(frame)
            yield StreamChunk(frame, [])


def _count_lines(path: Path) -> int:
    count = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
    return count


def _jsonl_columns(path: Path) -> tuple[list[str], int]:
    """Union of keys in first-seen order and the number of object lines (a cheap first pass, line by line)."""
    columns: dict[str, None] = {}
    rows = 0
    with open(path, "rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):  # JSON, UTF-8 and nesting errors alike
                continue  # reported with its line number by the real pass
            if isinstance(value, dict):
                columns.update(dict.fromkeys(value))
                rows += 1
    return list(columns), rows


def open_stream(path: str | Path, chunk_size: int = DEFAULT_CHUNK_SIZE, columns: ColumnMap | None = None) -> ResponseStream:
    """Open a CSV/TSV/JSONL/Parquet file for chunked reading; checks that the mapped text column exists."""
    path = Path(path)
    if chunk_size < 1:
        raise SynthgradeError(f"chunk size must be at least 1, got {chunk_size}")
    if not path.exists():
        raise SynthgradeError(f"{path}: no such file")
    columns = columns or ColumnMap()
    if path.is_dir() or path.suffix.lower() == ".xml":  # SemEval-2013 layout: small files, read whole
        raw = read_raw(path)
        return ResponseStream(path, "xml", list(raw.columns_present), len(raw.frame), chunk_size, preloaded=raw)
    if path.suffix.lower() not in STREAM_SUFFIXES:
        raise SynthgradeError(
            f"{path}: cannot read {path.suffix or 'a file without extension'}; "
            "use .csv, .tsv, .jsonl, .parquet or a SemEval XML folder"
        )
    fmt = STREAM_SUFFIXES[path.suffix.lower()]
    arrow_schema = None
    if fmt in {"csv", "tsv"}:
        with open(path, "rb") as handle:
            first = handle.readline()
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        if not first.strip():
            raise SynthgradeError(f"{path}: the file is empty (no header row)")
        try:
            header_line = first.decode("utf-8")
        except UnicodeDecodeError:
            raise SynthgradeError(f"{path} line 1: undecodable bytes (not UTF-8) in the header") from None
        header = read_header(csv.reader([header_line], delimiter="," if fmt == "csv" else "\t"), path)
        total = max(0, _count_lines(path) - 1)
    elif fmt == "jsonl":
        header, total = _jsonl_columns(path)
    else:
        import pyarrow.parquet as pq

        try:
            handle = pq.ParquetFile(path)
        except Exception as exc:
            raise parquet_error(path, exc) from None
        arrow_schema = handle.schema_arrow
        header = [str(name) for name in arrow_schema.names]
        check_header(header, str(path))
        total = handle.metadata.num_rows
    if columns.text not in header and (fmt != "jsonl" or total > 0):
        have = ", ".join(header) or "none"
        raise SynthgradeError(f"{path}: missing required text column '{columns.text}' (columns: {have}; map it with --text-col)")
    return ResponseStream(path, fmt, header, total, chunk_size, arrow_schema)


def iter_chunks(
    path: str | Path, chunk_size: int = DEFAULT_CHUNK_SIZE, columns: ColumnMap | None = None
) -> Iterator[StreamChunk]:
    """Shorthand for ``iter(open_stream(path, chunk_size, columns))``."""
    yield from open_stream(path, chunk_size, columns)


__all__ = ["DEFAULT_CHUNK_SIZE", "STREAM_SUFFIXES", "ResponseStream", "StreamChunk", "iter_chunks", "open_stream"]
