"""End to end through the real CLI: split -> train (tiny encoder) -> distill (static) -> export --int8
-> evaluate and predict with the export -> POST /score over HTTP, token enforced, 413 for an oversized body."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from helpers.serving import TOKEN, ServerThread

from synthgrade.modeling import ModelInfo, load_scorer
from synthgrade.serve import create_app


@pytest.mark.slow
def test_trained_model_exported_int8_scores_files_and_http(tiny_encoder: Path, fixtures: Path, tmp_path: Path, cli) -> None:
    def ok(*args) -> str:
        result = cli(*args)
        assert result.returncode == 0, f"{args[0]} failed: {result.stderr[-2000:]}"
        return result.stdout

    split = tmp_path / "split"
    ok("split", fixtures / "civics.csv", "--out", split, "--seed", "0")
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    common = ["--val", split / "val.csv", "--epochs", "1", "--batch-size", "8"]
    ok("train", "--human", split / "train.csv", "--out", teacher, "--model", tiny_encoder, *common)
    ok("distill", "--teacher", teacher, "--train", split / "train.csv", "--out", student, "--student", "static", *common)

    exported = tmp_path / "student-int8"
    stdout = ok("export", student, "--format", "onnx", "--int8", "--out", exported)
    assert "label agreement" in stdout
    info = ModelInfo.load(exported)
    assert info.kind == "onnx" and info.provenance["export"]["source_kind"] == "static" and info.provenance["export"]["int8"]
    assert info.provenance.get("train_human_rows", 0) > 0  # training provenance travels with the export
    assert "human-coded rows" in (teacher / "README.md").read_text(encoding="utf-8")

    ok("evaluate", exported, split / "test.csv", "--out", tmp_path / "onnx-metrics.json")
    metrics = json.loads((tmp_path / "onnx-metrics.json").read_text(encoding="utf-8"))
    assert 0.0 <= metrics["accuracy"]["value"] <= 1.0 and metrics["n"] == len(pd.read_csv(split / "test.csv"))
    card = (exported / "README.md").read_text(encoding="utf-8")
    assert "test.csv` (hash" in card and "dynamic int8" in card  # evaluate recorded the export's test result on its card

    ok("predict", exported, split / "test.csv", "--out", tmp_path / "scored.parquet")
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert len(scored) == metrics["n"] and scored["pred_label"].isin(["correct", "incorrect"]).all()
    # the scores come from the model, not a constant: they differ between responses, the labels follow them, and
    # evaluate's accuracy is the accuracy of these very predictions
    assert scored["prob_correct"].round(6).nunique() > 1
    assert (scored["pred_label"] == np.where(scored["prob_correct"] >= scored["prob_incorrect"], "correct", "incorrect")).all()
    test = pd.read_csv(split / "test.csv")
    assert metrics["accuracy"]["value"] == pytest.approx(float((scored["pred_label"] == test["label"]).mean()))

    app = create_app(load_scorer(exported), token=TOKEN, max_body_bytes=10_000)
    with ServerThread(app) as url:
        first = test.iloc[0]
        payload = {"responses": [{"text": str(first["text"]), "item_id": str(first["item_id"])}]}
        reply = httpx.post(f"{url}/score", json=payload, headers={"Authorization": f"Bearer {TOKEN}"})
        assert reply.status_code == 200
        result = reply.json()["results"][0]
        assert result["label"] == scored["pred_label"].iloc[0]  # HTTP and file scoring agree on the same response
        assert result["probabilities"]["correct"] == pytest.approx(scored["prob_correct"].iloc[0], abs=1e-5)
        assert httpx.post(f"{url}/score", json=payload).status_code == 401
        big = {"responses": [{"text": "p" * 20_000, "item_id": "econ1"}]}
        assert httpx.post(f"{url}/score", json=big, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 413
