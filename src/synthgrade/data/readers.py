"""Readers for CSV, TSV, JSONL, Parquet and the SemEval-2013 Task 7 XML layout, plus writers.

Readers never drop a row: every row becomes a record with its location ("file line N"), and
anything that could not be read (undecodable bytes, a broken JSON line, malformed XML) becomes a
:class:`Problem` with that location. Validation (``validate.py``) decides what is fatal.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from synthgrade.data.schema import WHERE, public_columns
from synthgrade.errors import SynthgradeError
from synthgrade.io import atomic_path

TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".parquet", ".xml"}
#: What ``write_table`` can write (by extension).
WRITE_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl", ".parquet"})

# The csv module refuses fields over 131,072 characters by default, yet pandas writes them (a long essay,
# a predict output): lift the limit once for every reader (C long, hence not sys.maxsize on every platform).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
#: Rows end in CRLF as RFC 4180 says: the csv writer quotes only fields holding a line-end character, so with
#: "\n" a field holding a bare "\r" would be written unquoted and read back as a different row.
CSV_LINE_END = "\r\n"


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class RawTable:
    """Rows as read, all values untouched, each with its location; plus read problems."""

    frame: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    columns_present: list[str] = field(default_factory=list)
    #: the file's name, for problems about the whole table (a missing column, no rows)
    source: str = "input"


def check_header(columns: Iterable[str], where: str) -> None:
    """Refuse ambiguous column names: with two ``text`` columns no reader can tell which one is meant."""
    seen: dict[str, int] = {}
    for position, name in enumerate(columns, start=1):
        if name in seen:
            shown = f"'{name}'" if name else "(blank)"
            raise SynthgradeError(
                f"{where}: column name {shown} is used twice (columns {seen[name]} and {position}); rename one of them"
            )
        seen[name] = position


def csv_rows(reader, name: str) -> Iterator[list[str]]:
    """The rows of a ``csv.reader``; a malformed-CSV error becomes a one-line error with the line number."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SynthgradeError(f"{name} line {reader.line_num}: cannot read as CSV ({exc})") from None
        yield row


#: JSON may spell half of a UTF-16 pair (``"\\ud800"``); Python then holds a string no file can be written with.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _encodable(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"key '{twice}' appears twice in the object")
    return dict(pairs)


def decoded_lines(path: Path, problems: list[Problem]) -> Iterator[str]:
    """Physical lines decoded as UTF-8, streamed; an undecodable line is reported with its number."""
    with open(path, "rb") as handle:
        for number, chunk in enumerate(handle, start=1):
            if number == 1 and chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
            try:
                yield chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(Problem(f"{path.name} line {number}", f"undecodable bytes (not UTF-8) at byte {exc.start}"))
                yield chunk.decode("utf-8", errors="replace")


def read_header(reader, path: Path) -> list[str]:
    """The stripped column names of a csv reader's first row, checked for ambiguity."""
    header = next(csv_rows(reader, path.name), None)
    if header is None or not any(h.strip() for h in header):
        raise SynthgradeError(f"{path}: the file is empty (no header row)")
    header = [h.strip() for h in header]
    check_header(header, f"{path} line 1")
    return header


def delimited_records(reader, name: str, width: int, problems: list[Problem]) -> Iterator[tuple[str, list[str]]]:
    """(location, fields) for each row of a csv reader positioned after the header; blank lines are skipped.

    The location is the row's first physical line, so quoted multi-line fields keep exact numbers.
    """
    previous_end = reader.line_num
    for row in csv_rows(reader, name):
        start_line, previous_end = previous_end + 1, reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue  # a blank line is not a row
        where = f"{name} line {start_line}"
        if len(row) != width:
            problems.append(Problem(where, f"has {len(row)} fields, the header has {width}"))
            row = (row + [""] * width)[:width]
        yield where, row


def json_records(lines: Iterable[str], name: str, problems: list[Problem]) -> Iterator[tuple[str, dict]]:
    """(location, object) for each non-blank JSONL line; broken lines become problems."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            value = json.loads(line, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            problems.append(Problem(where, f"not valid JSON ({exc.msg})"))
            continue
        except (ValueError, RecursionError) as exc:  # a repeated key (ambiguous), or absurd nesting
            problems.append(Problem(where, str(exc) if isinstance(exc, ValueError) else "nested too deeply"))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(where, "is not a JSON object"))
            continue
        if _SURROGATE_ESCAPE.search(line) and not _encodable(value):
            problems.append(Problem(where, "holds a lone surrogate escape (e.g. \\ud800), which is not text"))
            continue
        yield where, value


def _read_delimited(path: Path, delimiter: str) -> RawTable:
    problems: list[Problem] = []
    reader = csv.reader(decoded_lines(path, problems), delimiter=delimiter)
    header = read_header(reader, path)
    records, wheres = [], []
    for where, row in delimited_records(reader, path.name, len(header), problems):
        records.append(dict(zip(header, row, strict=True)))
        wheres.append(where)
    frame = pd.DataFrame.from_records(records, columns=header) if records else pd.DataFrame(columns=header)
    frame = frame.astype(object)
    frame[WHERE] = wheres
    return RawTable(frame, problems, header, path.name)


def _read_jsonl(path: Path) -> RawTable:
    problems: list[Problem] = []
    records, wheres, columns = [], [], {}
    for where, value in json_records(decoded_lines(path, problems), path.name, problems):
        columns.update(dict.fromkeys(value))
        records.append(value)
        wheres.append(where)
    frame = pd.DataFrame.from_records(records, columns=list(columns)).astype(object)
    frame[WHERE] = wheres
    return RawTable(frame, problems, list(columns), path.name)


def parquet_error(path: Path, exc: Exception) -> SynthgradeError:
    """pyarrow raises several types for a bad file, some with multi-line messages: one line each."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return SynthgradeError(f"{path}: cannot read as Parquet ({first})")


def _read_parquet(path: Path) -> RawTable:
    import pyarrow.parquet as pq

    try:
        check_header([str(name) for name in pq.ParquetFile(path).schema_arrow.names], str(path))
        frame = pd.read_parquet(path)
    except SynthgradeError:
        raise
    except Exception as exc:
        raise parquet_error(path, exc) from None
    columns = [str(c) for c in frame.columns]
    frame = frame.astype(object)
    frame[WHERE] = [f"{path.name} row {i}" for i in range(1, len(frame) + 1)]
    return RawTable(frame, [], columns, path.name)


def _read_semeval_xml(path: Path) -> RawTable:
    """SemEval-2013 Task 7 layout: one question per XML file with its reference and student answers."""
    files = sorted(path.glob("*.xml")) if path.is_dir() else [path]
    if not files:
        raise SynthgradeError(f"{path}: folder holds no .xml question files")
    problems: list[Problem] = []
    records, wheres = [], []
    for file in files:
        try:
            root = ET.parse(file).getroot()
        except ET.ParseError as exc:
            problems.append(Problem(file.name, f"malformed XML ({exc})"))
            continue
        if root.tag != "question":
            problems.append(Problem(file.name, f"root element is <{root.tag}>, expected <question>"))
            continue
        item_id = root.get("id")
        item_text = (root.findtext("questionText") or "").strip()
        refs = root.findall("referenceAnswers/referenceAnswer")
        best = [r for r in refs if r.get("category") == "BEST"] or refs
        reference = (best[0].text or "").strip() if best else None
        for answer in root.findall("studentAnswers/studentAnswer"):
            answer_id = answer.get("id")
            records.append(
                {
                    "id": answer_id,
                    "text": answer.text or "",
                    "label": answer.get("accuracy"),
                    "item_id": item_id,
                    "item_text": item_text,
                    "reference": reference,
                    "module": root.get("module"),
                }
            )
            wheres.append(f"{file.name} answer {answer_id}")
    columns = ["id", "text", "label", "item_id", "item_text", "reference", "module"]
    frame = pd.DataFrame.from_records(records, columns=columns).astype(object)
    frame[WHERE] = wheres
    return RawTable(frame, problems, columns, path.name)


def read_raw(path: str | Path) -> RawTable:
    """Read any supported file (or SemEval XML folder) without judging its content."""
    path = Path(path)
    if not path.exists():
        raise SynthgradeError(f"{path}: no such file or folder")
    if path.is_dir() or path.suffix.lower() == ".xml":
        return _read_semeval_xml(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_delimited(path, ",")
    if suffix == ".tsv":
        return _read_delimited(path, "\t")
    if suffix in {".jsonl", ".ndjson"}:
        return _read_jsonl(path)
    if suffix == ".parquet":
        return _read_parquet(path)
    raise SynthgradeError(
        f"{path}: unsupported file type {suffix or '(none)'}; use .csv, .tsv, .jsonl, .parquet or a SemEval XML folder"
    )


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a response table by extension (.csv, .tsv, .jsonl, .parquet), atomically.

    Private columns (``_where`` and any other starting with ``_``) are not written.
    """
    path = Path(path)
    frame = public_columns(frame)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise SynthgradeError(f"{path}: cannot write {suffix or 'a file without extension'}; use .csv, .tsv, .jsonl or .parquet")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, lineterminator=CSV_LINE_END)
        elif suffix == ".tsv":
            frame.to_csv(tmp, index=False, sep="\t", lineterminator=CSV_LINE_END)
        elif suffix == ".jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path
