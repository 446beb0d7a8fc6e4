"""Readers for CSV, TSV, JSONL, Parquet and the SemEval-2013 Task 7 XML layout, plus writers.

Readers never drop a row: every row becomes a record with its location ("file line N"), and
anything that could not be read (undecodable bytes, a broken JSON line, malformed XML) becomes a
:class:`Problem` with that location. Validation (``validate.py``) decides what is fatal.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from synthgrade.data.schema import WHERE, public_columns
from synthgrade.errors import SynthgradeError
from synthgrade.io import atomic_path

TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".parquet", ".xml"}


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


def delimited_records(reader, name: str, width: int, problems: list[Problem]) -> Iterator[tuple[str, list[str]]]:
    """(location, fields) for each row of a csv reader positioned after the header; blank lines are skipped.

    The location is the row's first physical line, so quoted multi-line fields keep exact numbers.
    """
    previous_end = reader.line_num
    for row in reader:
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
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(where, f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(where, "is not a JSON object"))
            continue
        yield where, value


def _read_delimited(path: Path, delimiter: str) -> RawTable:
    problems: list[Problem] = []
    reader = csv.reader(decoded_lines(path, problems), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise SynthgradeError(f"{path}: the file is empty (no header row)") from None
    header = [h.strip() for h in header]
    records, wheres = [], []
    for where, row in delimited_records(reader, path.name, len(header), problems):
        records.append(dict(zip(header, row, strict=True)))
        wheres.append(where)
    frame = pd.DataFrame.from_records(records, columns=header) if records else pd.DataFrame(columns=header)
    frame = frame.astype(object)
    frame[WHERE] = wheres
    return RawTable(frame, problems, header)


def _read_jsonl(path: Path) -> RawTable:
    problems: list[Problem] = []
    records, wheres, columns = [], [], {}
    for where, value in json_records(decoded_lines(path, problems), path.name, problems):
        columns.update(dict.fromkeys(value))
        records.append(value)
        wheres.append(where)
    frame = pd.DataFrame.from_records(records, columns=list(columns)).astype(object)
    frame[WHERE] = wheres
    return RawTable(frame, problems, list(columns))


def _read_parquet(path: Path) -> RawTable:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise SynthgradeError(f"{path}: cannot read as Parquet ({exc})") from None
    columns = [str(c) for c in frame.columns]
    frame = frame.astype(object)
    frame[WHERE] = [f"{path.name} row {i}" for i in range(1, len(frame) + 1)]
    return RawTable(frame, [], columns)


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
    return RawTable(frame, problems, columns)


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
    if suffix not in {".csv", ".tsv", ".jsonl", ".parquet"}:
        raise SynthgradeError(f"{path}: cannot write {suffix or 'a file without extension'}; use .csv, .tsv, .jsonl or .parquet")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, lineterminator="\n")
        elif suffix == ".tsv":
            frame.to_csv(tmp, index=False, sep="\t", lineterminator="\n")
        elif suffix == ".jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path
