"""Readers, column mapping and every kind of bad input, each named with its row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synthgrade.data import ColumnMap, load_responses, read_raw, validate_file, write_table
from synthgrade.errors import SynthgradeError

MAPPING = ColumnMap(text="response", label="score", id="answer_id", item_id="question", item_text="prompt", reference="ref")


def test_csv_reader_canonical_columns(fixtures: Path) -> None:
    frame = load_responses(fixtures / "civics.csv")
    assert len(frame) == 24
    assert list(frame.columns[:4]) == ["id", "text", "label", "item_id"]
    assert frame["label"].value_counts().to_dict() == {"correct": 12, "incorrect": 12}
    assert frame.attrs["labels"] == ["correct", "incorrect"]


def test_jsonl_mapping_keeps_metadata_and_stringifies_labels(fixtures: Path) -> None:
    frame = load_responses(fixtures / "mixed.jsonl", MAPPING)
    assert frame["id"].tolist() == ["a1", "a2", "a3", "a4"]
    assert frame["label"].tolist() == ["1", "0", "1", "0"]
    assert frame["item_text"].iloc[2] == "How can you separate iron from sand?"
    assert frame["reference"].iloc[0] == "Evaporate the water."
    assert "grade" in frame.columns  # unmapped columns stay as metadata
    assert frame["_where"].tolist()[2] == "mixed.jsonl line 4"  # the blank line counts


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_round_trip_every_format(tmp_path: Path, fixtures: Path, suffix: str) -> None:
    frame = load_responses(fixtures / "civics.csv")
    path = write_table(frame, tmp_path / f"civics{suffix}")
    again = load_responses(path)
    assert again["text"].tolist() == frame["text"].tolist()
    assert again["label"].tolist() == frame["label"].tolist()
    assert "_where" not in pd.read_csv(path).columns if suffix == ".csv" else True


def test_semeval_xml_folder(tmp_path: Path) -> None:
    (tmp_path / "Q1.xml").write_text(
        '<?xml version="1.0"?><question id="Q1" module="M"><questionText>Why?</questionText>'
        '<referenceAnswers><referenceAnswer id="r1">Other.</referenceAnswer>'
        '<referenceAnswer id="r2" category="BEST">Because.</referenceAnswer></referenceAnswers>'
        '<studentAnswers><studentAnswer id="s1" accuracy="correct">Because so.</studentAnswer>'
        '<studentAnswer id="s2" accuracy="incorrect">No idea.</studentAnswer></studentAnswers></question>'
    )
    frame = load_responses(tmp_path)
    assert frame["id"].tolist() == ["s1", "s2"]
    assert frame["reference"].tolist() == ["Because.", "Because."]
    assert frame["item_text"].iloc[0] == "Why?"
    assert frame["_where"].iloc[1] == "Q1.xml answer s2"


def _problems(path: Path, **kwargs) -> list[str]:
    return [str(p) for p in validate_file(path, **kwargs).errors]


def test_each_bad_input_kind_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,text,label\n"
        "1,fine answer,correct\n"
        '2,"   ",incorrect\n'  # whitespace-only text
        "3,no label here,\n"  # missing label
        "4,unknown label,maybe\n"
        '5,"spans\ntwo lines",correct\n'
        "6," + "x" * 50 + ",correct\n"
    )
    problems = _problems(path, labels=["correct", "incorrect"], max_chars=40)
    assert problems == [
        "bad.csv line 3: empty or whitespace-only text",
        "bad.csv line 4: missing label",
        "bad.csv line 5: label 'maybe' is not one of the declared labels correct,incorrect",
        "bad.csv line 8: text has 50 characters, over the limit of 40",
    ]


def test_missing_required_column_names_the_mapping_option(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("answer,label\nhello,correct\n")
    (problem,) = _problems(path)
    assert "missing required text column 'text'" in problem and "--text-col" in problem


def test_undecodable_bytes_are_reported_with_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"text,label\nfine,correct\ncaf\xe9 au lait,incorrect\n")
    problems = _problems(path)
    assert problems == ["latin.csv line 3: undecodable bytes (not UTF-8) at byte 3"]


def test_broken_jsonl_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": \n[1, 2]\n')
    problems = _problems(path)
    assert problems[0].startswith("broken.jsonl line 2: not valid JSON")
    assert problems[1] == "broken.jsonl line 3: is not a JSON object"


def test_duplicates_are_warnings_not_errors(tmp_path: Path) -> None:
    path = tmp_path / "dup.tsv"
    path.write_text("text\tlabel\nsame\tcorrect\nother\tincorrect\nsame\tcorrect\nmore\tincorrect\n")
    report = validate_file(path)
    assert report.ok
    assert [str(w) for w in report.warnings] == ["dup.tsv line 4: exact duplicate of dup.tsv line 2"]


def test_duplicate_ids_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("id,text,label\n7,a,x\n7,b,y\n")
    assert _problems(path) == [
        "ids.csv line 2: id '7' is used by more than one row",
        "ids.csv line 3: id '7' is used by more than one row",
    ]


def test_load_responses_raises_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,label\n,correct\nok,\n")
    with pytest.raises(SynthgradeError) as info:
        load_responses(path)
    assert info.value.problems == ["bad.csv line 2: empty or whitespace-only text", "bad.csv line 3: missing label"]


def test_unlabelled_data_for_scoring(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    path.write_text("text\nfirst\nsecond\n")
    frame = load_responses(path, require_label=False)
    assert frame["id"].tolist() == ["new.csv:2", "new.csv:3"]


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "a.xlsx").touch()
    with pytest.raises(SynthgradeError, match="unsupported file type .xlsx"):
        read_raw(tmp_path / "a.xlsx")
    with pytest.raises(SynthgradeError, match="no such file"):
        read_raw(tmp_path / "nope.csv")
