"""Batch scoring: chunked streaming with exact row numbers, every output format, unscorable-row policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.tiny_scorer import LABELS, build_tiny_scorer

from synthgrade.data import ColumnMap
from synthgrade.data.stream import iter_chunks, open_stream
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.modeling import load_scorer
from synthgrade.predict import PRED_LABEL, PRED_PROBLEM, predict_file


@pytest.fixture(scope="module")
def pair_model(tiny_encoder: Path, tmp_path_factory) -> Path:
    return build_tiny_scorer(tiny_encoder, tmp_path_factory.mktemp("pair-model"))


CSV = (
    "answer_id,response,question,note\n"
    'a1,"The water evaporates, salt stays.",q1,first\n'
    "\n"
    'a2,"a response\nover two lines",q2,multi\n'
    "a3,,q1,empty\n"
    "a4,I used a magnet.,q9,unknown item\n"
    "a5,Boil it off.,q1,last\n"
)
COLUMNS = ColumnMap(text="response", item_id="question", id="answer_id")


def test_stream_keeps_exact_line_numbers_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(CSV, encoding="utf-8")
    stream = open_stream(path, chunk_size=2, columns=COLUMNS)
    chunks = list(stream)
    assert [len(c.rows) for c in chunks] == [2, 2, 1]
    wheres = [w for c in chunks for w in c.rows["_where"]]
    # header is line 1; the blank line 3 is skipped; a2 spans lines 4-5
    assert wheres == ["in.csv line 2", "in.csv line 4", "in.csv line 6", "in.csv line 7", "in.csv line 8"]
    assert chunks[0].canonical(COLUMNS)["text"].tolist() == ["The water evaporates, salt stays.", "a response\nover two lines"]
    assert chunks[1].canonical(COLUMNS)["item_id"].tolist() == ["q1", "q9"]
    assert stream.columns == ["answer_id", "response", "question", "note"]


def test_stream_jsonl_and_parquet_locations_and_read_problems(tmp_path: Path) -> None:
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"text": "one"}\n\n{broken\n{"text": "two", "extra": 1}\n[1, 2]\n{"text": "three"}\n', encoding="utf-8")
    chunks = list(iter_chunks(jsonl, chunk_size=2))
    assert [w for c in chunks for w in c.rows["_where"]] == ["in.jsonl line 1", "in.jsonl line 4", "in.jsonl line 6"]
    problems = [str(p) for c in chunks for p in c.problems]
    assert problems == [
        "in.jsonl line 3: not valid JSON (Expecting property name enclosed in double quotes)",
        "in.jsonl line 5: is not a JSON object",
    ]
    assert open_stream(jsonl).columns == ["text", "extra"]
    parquet = tmp_path / "in.parquet"
    pd.DataFrame({"text": [f"r{i}" for i in range(5)], "score": range(5)}).to_parquet(parquet)
    stream = open_stream(parquet, chunk_size=2)
    assert stream.total_rows == 5
    assert [w for c in stream for w in c.rows["_where"]][-1] == "in.parquet row 5"


def test_stream_errors(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("answer,label\nx,1\n", encoding="utf-8")
    with pytest.raises(SynthgradeError, match="missing required text column 'text'.*--text-col"):
        open_stream(tmp_path / "a.csv")
    (tmp_path / "e.csv").write_text("", encoding="utf-8")
    with pytest.raises(SynthgradeError, match="empty"):
        open_stream(tmp_path / "e.csv")
    (tmp_path / "a.xlsx").write_bytes(b"PK")
    with pytest.raises(SynthgradeError, match="cannot read .xlsx"):
        open_stream(tmp_path / "a.xlsx")


def test_predict_csv_keeps_every_row_and_reports_unscorable(pair_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(CSV, encoding="utf-8")
    out = tmp_path / "out.csv"
    summary = predict_file(pair_model, data, out, COLUMNS, chunk_size=2, show_progress=False)
    result = pd.read_csv(out, keep_default_na=False, dtype=str)
    assert result["answer_id"].tolist() == ["a1", "a2", "a3", "a4", "a5"]  # input order, nothing dropped
    assert list(result.columns) == [
        "answer_id",
        "response",
        "question",
        "note",
        PRED_LABEL,
        "prob_correct",
        "prob_incorrect",
        PRED_PROBLEM,
    ]
    assert result.loc[1, "response"] == "a response\nover two lines"
    assert summary.rows == 5 and summary.scored == 3 and summary.unscorable == 2
    assert summary.problems == [
        "in.csv line 6: empty or whitespace-only text",
        "in.csv line 7: unknown item_id 'q9'; this model scores (item, response) pairs and needs a known item or its wording",
    ]
    blank = result["answer_id"].isin(["a3", "a4"])
    assert (result.loc[blank, PRED_LABEL] == "").all() and (result.loc[blank, "prob_correct"] == "").all()
    assert result.loc[blank, PRED_PROBLEM].str.len().gt(0).all() and (result.loc[~blank, PRED_PROBLEM] == "").all()
    probs = result.loc[~blank, ["prob_correct", "prob_incorrect"]].astype(float).to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0)
    # the predictions are the scorer's own, row for row
    scorer = load_scorer(pair_model)
    frame = pd.DataFrame({"text": result.loc[~blank, "response"].tolist(), "item_id": result.loc[~blank, "question"].tolist()})
    assert np.allclose(scorer.predict_proba(frame), probs, atol=1e-6)
    assert result.loc[~blank, PRED_LABEL].tolist() == list(scorer.predict(frame))
    assert sum(summary.label_counts.values()) == 3


def test_predict_chunking_does_not_change_results(pair_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    rows = [
        {"text": f"answer number {i} about {'salt' if i % 2 else 'magnets'}", "item_id": "q1" if i % 3 else "q2"}
        for i in range(23)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    small = predict_file(pair_model, data, tmp_path / "small.jsonl", chunk_size=4, batch_size=3, show_progress=False)
    large = predict_file(pair_model, data, tmp_path / "large.jsonl", chunk_size=1000, show_progress=False)
    a = pd.read_json(tmp_path / "small.jsonl", lines=True)
    b = pd.read_json(tmp_path / "large.jsonl", lines=True)
    assert small.rows == large.rows == 23 and len(a) == 23
    assert np.allclose(a["prob_correct"], b["prob_correct"], atol=1e-6) and (a[PRED_LABEL] == b[PRED_LABEL]).all()


def test_predict_formats_round_trip(pair_model: Path, tmp_path: Path, fixtures: Path) -> None:
    columns = ColumnMap(text="response", item_id="question", item_text="prompt", reference="ref", id="answer_id", label="score")
    parquet = tmp_path / "out.parquet"
    summary = predict_file(pair_model, fixtures / "mixed.jsonl", parquet, columns, show_progress=False)
    table = pd.read_parquet(parquet)
    assert summary.rows == len(table) == summary.scored
    assert {"answer_id", "response", "score", "pred_label", "prob_correct"} <= set(table.columns)
    assert table["prob_correct"].dtype == np.float64
    # Parquet in keeps the source types; TSV out
    typed = tmp_path / "typed.parquet"
    pd.DataFrame({"text": ["It evaporates.", "magnet"], "item_id": ["q1", "q2"], "score": [1, 0]}).to_parquet(typed)
    predict_file(pair_model, typed, tmp_path / "typed_out.parquet", show_progress=False)
    assert pd.read_parquet(tmp_path / "typed_out.parquet")["score"].tolist() == [1, 0]
    predict_file(pair_model, typed, tmp_path / "out.tsv", show_progress=False)
    assert pd.read_csv(tmp_path / "out.tsv", sep="\t")["pred_label"].isin(LABELS).all()


def test_predict_fail_policy_and_malformed_files_write_nothing(pair_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(CSV, encoding="utf-8")
    out = tmp_path / "out.csv"
    with pytest.raises(SynthgradeError, match="line 6: empty.*and 1 more rows.*nothing written") as info:
        predict_file(pair_model, data, out, COLUMNS, chunk_size=2, on_unscorable="fail", show_progress=False)
    assert len([p for p in info.value.problems if "line" in p]) == 2
    with pytest.raises(ParameterError, match="^on_unscorable must be blank or fail, got 'skip'$"):
        predict_file(pair_model, data, out, COLUMNS, on_unscorable="skip", show_progress=False)  # type: ignore[arg-type]
    assert not out.exists()
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine", "item_id": "q1"}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(SynthgradeError, match="broken.jsonl line 2: not valid JSON"):
        predict_file(pair_model, broken, out, show_progress=False)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("text,item_id\nfine,q1\ntoo,many,fields\n", encoding="utf-8")
    with pytest.raises(SynthgradeError, match="ragged.csv line 3: has 3 fields"):
        predict_file(pair_model, ragged, out, show_progress=False)
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(SynthgradeError, match="overwrite the input"):
        predict_file(pair_model, data, data, show_progress=False)
    with pytest.raises(SynthgradeError, match="cannot write .xlsx"):
        predict_file(pair_model, data, tmp_path / "out.xlsx", show_progress=False)


def test_predict_replaces_existing_prediction_columns(pair_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "scored.csv"
    data.write_text("text,item_id,pred_label\nIt evaporates.,q1,stale\n", encoding="utf-8")
    predict_file(pair_model, data, tmp_path / "again.csv", show_progress=False)
    again = pd.read_csv(tmp_path / "again.csv")
    assert list(again.columns).count("pred_label") == 1 and again.loc[0, "pred_label"] in LABELS


def test_predict_cli(pair_model: Path, tmp_path: Path, cli) -> None:
    data = tmp_path / "in.csv"
    data.write_text(CSV, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    args = [
        "predict",
        pair_model,
        data,
        "--out",
        out,
        "--text-col",
        "response",
        "--item-col",
        "question",
        "--id-col",
        "answer_id",
    ]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    assert "scored 3 of 5 rows" in result.stdout and "2 unscorable" in result.stdout
    assert "in.csv line 6: empty" in result.stderr and "in.csv line 7: unknown item_id 'q9'" in result.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 5
    failed = cli(*args[:4], tmp_path / "strict.jsonl", *args[5:], "--on-unscorable", "fail")
    assert failed.returncode == 2 and "Traceback" not in failed.stderr and "nothing written" in failed.stderr
    assert not (tmp_path / "strict.jsonl").exists()


@pytest.mark.slow
def test_predict_semeval_xml_folder(pair_model: Path, scientsbank: Path, tmp_path: Path) -> None:
    folder = scientsbank / "2way" / "test" / "test-unseen-answers"
    out = tmp_path / "scored.csv"
    summary = predict_file(pair_model, folder, out, chunk_size=128, show_progress=False)
    table = pd.read_csv(out)
    assert summary.rows == len(table) > 400 and summary.unscorable == 0  # the rows carry question and reference
    assert {"id", "text", "label", "item_id", "pred_label", "prob_correct"} <= set(table.columns)
    assert table["pred_label"].isin(LABELS).all()
