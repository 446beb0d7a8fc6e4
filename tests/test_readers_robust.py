"""Hostile input files: every reader either loads a table exactly or fails with one located line.

The example tests reproduce the probes of issue 13 (items 4, 5, 6 and 12); the property tests
(hypothesis) throw arbitrary tables and arbitrary bytes at every supported format.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthgrade.data import ColumnMap, load_responses, read_raw, validate_file, write_table
from synthgrade.data.schema import WHERE
from synthgrade.data.stream import open_stream
from synthgrade.errors import SynthgradeError

FORMATS = ["csv", "tsv", "jsonl", "parquet"]


def one_line(exc: SynthgradeError) -> str:
    message = str(exc)
    assert message and "\n" not in message and "Traceback" not in message
    return message


# -- item 4: cells over the csv module's 131,072-character limit -----------------------------------


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_cells_longer_than_the_csv_field_limit_are_read(tmp_path: Path, fmt: str) -> None:
    essay = "word " * 40_000  # 200,000 characters
    table = pd.DataFrame({"text": ["short", "fine"], "label": ["a", "b"], "notes": [essay, "x"]})
    path = write_table(table, tmp_path / f"t.{fmt}")
    assert read_raw(path).frame["notes"].tolist() == [essay, "x"]
    rows = pd.concat([chunk.rows for chunk in open_stream(path)])
    assert rows["notes"].tolist() == [essay, "x"]
    assert load_responses(path)["notes"].tolist() == [essay, "x"]


def test_overlong_text_is_a_located_row_error_in_the_cli(tmp_path: Path, cli) -> None:
    path = tmp_path / "long.csv"
    pd.DataFrame({"text": ["a" * 150_000, "ok"], "label": ["x", "y"]}).to_csv(path, index=False)
    result = cli("validate", path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "long.csv line 2: text has 150000 characters" in result.stderr
    assert cli("validate", path, "--max-chars", "200000").returncode == 0


# -- item 5: duplicate column names --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_duplicate_header_names_are_refused_by_every_reader(tmp_path: Path, fmt: str) -> None:
    sep = "," if fmt == "csv" else "\t"
    path = tmp_path / f"dup.{fmt}"
    path.write_text(sep.join(["text", "label", "text"]) + "\n" + sep.join(["a", "x", "b"]) + "\n", encoding="utf-8")
    for read in (read_raw, open_stream, validate_file):
        with pytest.raises(SynthgradeError, match=r"dup\.\w+ line 1: column name 'text' is used twice \(columns 1 and 3\)"):
            read(path)


def test_duplicate_parquet_columns_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([["a"], ["x"], ["b"]], names=["text", "label", "text"]), path)
    for read in (read_raw, open_stream):
        with pytest.raises(SynthgradeError) as caught:
            read(path)
        assert "dup.parquet" in one_line(caught.value)


def test_duplicate_jsonl_keys_are_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "x", "text": "c"}\n', encoding="utf-8")
    report = validate_file(path)
    assert [str(p) for p in report.errors] == ["dup.jsonl line 2: key 'text' appears twice in the object"]


def test_split_and_train_refuse_duplicate_columns_cleanly(tmp_path: Path, cli) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("text,label,label\nsalt stays,correct,incorrect\nit melts,incorrect,correct\n", encoding="utf-8")
    train = ["train", "--human", path, "--val", path, "--out", tmp_path / "m"]
    for args in (["split", path, "--out", tmp_path / "split"], train):
        result = cli(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "dup.csv line 1: column name 'label' is used twice" in result.stderr
    assert not (tmp_path / "split").exists()


# -- item 6: a header and no rows -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_table_without_rows_is_not_usable(tmp_path: Path, fmt: str) -> None:
    empty = pd.DataFrame({"text": pd.Series([], dtype=object), "label": pd.Series([], dtype=object)})
    path = write_table(empty, tmp_path / f"e.{fmt}")
    report = validate_file(path)
    assert not report.ok and f"e.{fmt}: no data rows" in str(report.errors[0])


def test_header_only_file_fails_validate_and_split_writes_nothing(tmp_path: Path, cli) -> None:
    path = tmp_path / "header.csv"
    path.write_text("text,label\n", encoding="utf-8")
    result = cli("validate", path)
    assert result.returncode == 2 and "header.csv: no data rows" in result.stderr and "usable" not in result.stdout
    result = cli("split", path, "--out", tmp_path / "split")
    assert result.returncode == 2 and not (tmp_path / "split").exists()


# -- item 12: JSONL values that are not text, and an empty file --------------------------------------


def test_non_string_jsonl_text_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    lines = [{"text": t, "label": "a"} for t in ("fine", 42, [1, 2], {"k": 1})]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    errors = [str(p) for p in validate_file(path).errors]
    assert errors == [
        "odd.jsonl line 2: text is a number (42), not a string",
        "odd.jsonl line 3: text is a list, not a string",
        "odd.jsonl line 4: text is an object, not a string",
    ]
    chunk = next(iter(open_stream(path)))
    chunk.canonical(ColumnMap())
    assert [str(p) for p in chunk.problems] == errors  # predict refuses them too instead of scoring "42"


def test_empty_jsonl_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    errors = [str(p) for p in validate_file(path).errors]
    assert errors and all(e.startswith("empty.jsonl") for e in errors), errors
    assert not any(e.startswith("input") for e in errors)


def test_lone_surrogate_escape_in_jsonl_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"text": "ok \\ud83d\\ude00", "label": "a"}\n{"text": "bad \\ud800", "label": "a"}\n', encoding="utf-8")
    report = validate_file(path)
    assert [str(p) for p in report.errors] == ["s.jsonl line 2: holds a lone surrogate escape (e.g. \\ud800), which is not text"]


# -- properties: arbitrary tables round-trip through every format --------------------------------------

# Any text a file can hold (no lone surrogates: no encoding can write them).
CELL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=8).filter(
    lambda s: s == s.strip() and not s.startswith("_") and "\ufeff" not in s
)


@st.composite
def tables(draw) -> pd.DataFrame:
    extra = draw(st.lists(NAME.filter(lambda n: n not in ("text", "label")), max_size=3, unique=True))
    columns = ["text", "label", *extra]
    rows = draw(st.integers(min_value=1, max_value=6))
    data = {c: draw(st.lists(CELL, min_size=rows, max_size=rows)) for c in columns}
    # A row of whitespace-only cells is a blank line in CSV: give every row visible text.
    data["text"] = [t if t.strip() else t + "x" for t in data["text"]]
    return pd.DataFrame(data, columns=columns)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables(), fmt=st.sampled_from(FORMATS))
def test_arbitrary_tables_round_trip_or_fail_in_one_line(tmp_path_factory, table: pd.DataFrame, fmt: str) -> None:
    path = tmp_path_factory.mktemp("prop") / f"t.{fmt}"
    write_table(table, path)
    raw = read_raw(path)
    got = raw.frame.drop(columns=[WHERE])
    assert list(got.columns) == list(table.columns)
    assert got.astype(str).values.tolist() == table.astype(str).values.tolist()
    streamed = pd.concat([chunk.rows for chunk in open_stream(path, chunk_size=2)]).drop(columns=[WHERE])
    assert streamed.astype(str).values.tolist() == table.astype(str).values.tolist()
    try:
        loaded = load_responses(path, max_chars=10_000)
    except SynthgradeError as exc:
        one_line(exc)  # e.g. an empty label: refused, in one located line
    else:
        assert len(loaded) == len(table)  # nothing dropped


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.text(st.sampled_from(string.printable + '"\\\ud7ff\ufeff\x00é'), max_size=200).map(lambda s: s.encode("utf-8")),
    ),
    fmt=st.sampled_from(FORMATS),
)
def test_arbitrary_bytes_never_raise_a_traceback(tmp_path_factory, content: bytes, fmt: str) -> None:
    path = tmp_path_factory.mktemp("bytes") / f"t.{fmt}"
    path.write_bytes(content)
    for attempt in (
        lambda: validate_file(path),
        lambda: load_responses(path),
        lambda: [chunk.canonical(ColumnMap()) for chunk in open_stream(path)],
    ):
        try:
            attempt()
        except SynthgradeError as exc:
            one_line(exc)
