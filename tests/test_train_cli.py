"""The train / distill / evaluate commands end to end, as users run them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from synthgrade.data import load_responses, write_table

HEADLINE = ("accuracy", "macro_f1", "kappa", "qwk", "auc")


def toy(prefix: str, n: int, start: int = 0) -> pd.DataFrame:
    words = {"yes": ["good great fine", "great nice good"], "no": ["bad awful poor", "poor wrong bad"]}
    rows = []
    for i in range(start, start + n):
        label = "yes" if i % 2 == 0 else "no"
        rows.append(
            {
                "id": f"{prefix}{i}",
                "text": f"{words[label][i % 2]} {i % 5}",
                "label": label,
                "item_id": "q1",
                "item_text": "Good?",
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "train": tmp_path / "train.csv",
        "val": tmp_path / "val.csv",
        "test": tmp_path / "test.csv",
        "syn": tmp_path / "syn.jsonl",
    }
    write_table(toy("t", 40), paths["train"])
    write_table(toy("v", 12, 100), paths["val"])
    write_table(toy("x", 16, 200), paths["test"])
    write_table(toy("s", 40, 300).assign(synthetic=True, model="gpt-4o", temperature=0.3, backend="openai"), paths["syn"])
    return paths


def test_train_tfidf_with_synthetic_mix_then_evaluate(cli, files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = cli("train", "--human", files["train"], "--val", files["val"], "--synthetic", files["syn"], "--ratio", "0.5",
                 "--model", "tfidf", "--out", out)  # fmt: skip
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "synthgrade.json").read_text())
    mix = meta["provenance"]["mix"]
    assert mix["synthetic_rows"] == 40 and mix["human_rows"] == 40 and len(mix["synthetic_ids"]) == 40
    assert meta["provenance"]["synthetic_sources"][0]["model"] == "gpt-4o"
    assert json.loads((out / "mix_manifest.json").read_text())["hash"] == mix["hash"]
    metrics = tmp_path / "metrics.json"
    result = cli("evaluate", out, files["test"], "--out", metrics, "--bootstrap", "200")
    assert result.returncode == 0, result.stderr
    data = json.loads(metrics.read_text())
    for key in HEADLINE:
        assert set(data[key]) >= {"value", "ci_low", "ci_high"}
    assert data["n"] == 16 and "macro-F1" in result.stdout
    assert json.loads((out / "synthgrade.json").read_text())["evaluations"][0]["test_hash"] == data["test_hash"]


def test_cli_errors_are_one_line_and_leave_nothing(cli, files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "model"
    too_many = cli("train", "--human", files["train"], "--val", files["val"], "--synthetic", files["syn"], "--ratio", "0.9",
                   "--model", "tfidf", "--out", out)  # fmt: skip
    assert too_many.returncode == 2 and "not enough synthetic rows" in too_many.stderr and "Traceback" not in too_many.stderr
    assert not out.exists()
    synthetic_val = cli("train", "--human", files["train"], "--val", files["syn"], "--model", "tfidf", "--out", out)
    assert synthetic_val.returncode == 2 and "synthetic rows" in synthetic_val.stderr and not out.exists()
    assert list(tmp_path.glob(".model.*")) == []


def test_train_distill_static_and_compare(cli, files: dict[str, Path], tmp_path: Path, tiny_encoder: Path) -> None:
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    result = cli("train", "--human", files["train"], "--val", files["val"], "--model", tiny_encoder, "--epochs", "3",
                 "--lr", "3e-3", "--batch-size", "8", "--max-length", "32", "--out", teacher)  # fmt: skip
    assert result.returncode == 0, result.stderr
    again = cli("train", "--human", files["train"], "--val", files["val"], "--model", "tfidf", "--out", teacher)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    result = cli("distill", "--teacher", teacher, "--train", files["train"], "--val", files["val"], "--student", "static",
                 "--epochs", "3", "--out", student)  # fmt: skip
    assert result.returncode == 0, result.stderr
    meta = json.loads((student / "synthgrade.json").read_text())
    assert meta["kind"] == "static" and "agreement_val" in meta["training"]["distillation"]
    metrics = tmp_path / "cmp.json"
    result = cli("evaluate", student, files["test"], "--compare", teacher, "--out", metrics, "--bootstrap", "100")
    assert result.returncode == 0, result.stderr
    data = json.loads(metrics.read_text())
    assert set(data["diff"]) == set(HEADLINE) and data["compare"] == str(teacher)


@pytest.mark.slow
def test_done_when_scientsbank_train_evaluate_distill(cli, scientsbank: Path, tmp_path: Path) -> None:
    """Issue 4's done-when: 200 SciEntsBank rows, one epoch of MiniLM; evaluate on unseen answers; distill layers:3."""
    rows = load_responses(scientsbank / "2way" / "train").sample(frac=1.0, random_state=0)
    write_table(rows.iloc[:200], tmp_path / "train.csv")
    write_table(rows.iloc[200:260], tmp_path / "val.csv")
    test = scientsbank / "2way" / "test" / "test-unseen-answers"
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    result = cli("train", "--human", tmp_path / "train.csv", "--val", tmp_path / "val.csv", "--model", "minilm-l6",
                 "--epochs", "1", "--max-length", "96", "--out", teacher)  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = cli("evaluate", teacher, test, "--out", tmp_path / "teacher.json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "teacher.json").read_text())
    assert metrics["n"] == 540 and {"per_label", "confusion_matrix", "test_hash"} <= set(metrics)
    for key in HEADLINE:
        entry = metrics[key]
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"], key
    result = cli("distill", "--teacher", teacher, "--train", tmp_path / "train.csv", "--val", tmp_path / "val.csv",
                 "--student", "layers:3", "--epochs", "1", "--out", student)  # fmt: skip
    assert result.returncode == 0, result.stderr
    size = {d: sum(f.stat().st_size for f in d.iterdir()) for d in (teacher, student)}
    assert size[student] < size[teacher]
    result = cli("evaluate", student, test, "--out", tmp_path / "student.json", "--bootstrap", "200")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "student.json").read_text())["n"] == 540
