"""The real trial pipeline (generate -> filter -> mix -> train -> distil -> evaluate -> report) on tiny models.

Generation and LLM filtering talk to the fake chat server in tests/helpers/llm_server.py; the teacher is the
tiny random encoder; the student is the static one. This checks the wiring, not model quality.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from helpers.llm_server import FakeChatServer

from synthgrade.experiment import ResultsStore, read_split, run_sweep, sweep_config_from_dict


def hashed_grade(messages: list[dict]) -> str:
    """Grades by a hash of the response, so the filter keeps some rows of every label and drops others."""
    text = messages[-1]["content"]
    label = "correct" if zlib.crc32(text.encode()) % 2 else "incorrect"
    return json.dumps({"rationale": "checked against the rubric", "label": label})


@pytest.fixture
def server():
    with FakeChatServer(grade=hashed_grade) as running:
        yield running


def pipeline_config(fixtures: Path, server: FakeChatServer, tiny_encoder: Path, tmp_path: Path) -> dict:
    return {
        "name": "pipeline",
        "data": {"path": str(fixtures / "civics.csv"), "labels": ["correct", "incorrect"], "split": {"test": 0.3}},
        "generation": {
            "backend": "openai",
            "model": "fake-model",
            "base_url": server.base_url,
            "temperatures": [0.3, 0.9],
            "per_label": 30,
            "options": {"embedder": None},
        },
        "filter": {
            "modes": ["off", "on"],
            "method": "llm",
            "options": {"backend": "openai", "model": "fake-model", "base_url": server.base_url},
        },
        "mix": {"ratios": [0.0, 0.5]},
        "teacher": {"model": str(tiny_encoder), "epochs": 1, "max_length": 32},
        "students": [{"model": "static", "epochs": 1}],
        "evaluation": {"bootstrap": 50, "speed_rows": 16},
        "seeds": [0],
        "cache_dir": str(tmp_path / "cache"),
    }


def test_real_trials_end_to_end(fixtures, server, tiny_encoder, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    config = sweep_config_from_dict(pipeline_config(fixtures, server, tiny_encoder, tmp_path))
    run_dir = tmp_path / "run"
    result = run_sweep(config, run_dir)
    assert result.complete, result.failed
    assert len(result.ran) == 1 + 2 * 2
    rows = ResultsStore(run_dir / "trials.jsonl").rows()
    test = read_split(run_dir, "test")
    val = read_split(run_dir, "val")
    train = read_split(run_dir, "train")
    for row in rows:
        teacher = row["teacher"]
        assert set(teacher["metrics"]) >= {"accuracy", "macro_f1", "kappa"} and teacher["metrics"]["n"] == len(test)
        assert len(teacher["predictions"]) == len(test)
        assert teacher["speed"]["responses_per_s"] > 0
        assert [s["name"] for s in row["students"]] == ["static"]
        assert 0.0 <= row["students"][0]["agreement_with_teacher"] <= 1.0
        assert row["counts"]["human"] == len(train)
        assert (row["counts"]["synthetic"] > 0) == (row["params"]["ratio"] > 0)
    # Synthetic sets: 2 generations + 2 filtered sets, with diagnostics for the report.
    synthetic = run_dir / "synthetic"
    assert len(list(synthetic.glob("*.summary.json"))) == 2
    assert len(list(synthetic.glob("*.filter.json"))) == 2
    assert len(list(synthetic.glob("*.diagnostics.json"))) == 4
    # No test or validation response was used as a prompt example or kept as a synthetic row.
    held_out = set(test["id"]) | set(val["id"])
    held_out_text = set(test["text"]) | set(val["text"])
    for path in synthetic.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            shown = row.get("example_ids") or []
            shown = shown.split(",") if isinstance(shown, str) else shown
            assert shown and not set(shown) & held_out
            assert row["text"] not in held_out_text
    # A rerun finds everything done and calls no model.
    again = run_sweep(config, run_dir)
    assert again.ran == [] and again.synthetic_made == []


def test_demo_smoke_with_a_tiny_budget(server, tmp_path, monkeypatch):
    """run_demo (synthgrade build on the built-in example set) with a fake generator and TF-IDF; a rerun resumes."""
    from synthgrade.demo import run_demo

    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "cache"))
    overrides = {
        "backend": "openai",
        "generator": "fake-model",
        "base_url": server.base_url,
        "model": "tfidf",
        "weights": [1.0],
        "bootstrap": 200,
    }
    out = tmp_path / "demo"
    result = run_demo(out, overrides=overrides)
    assert result.report == out / "report" / "index.html" and result.report.exists()
    assert result.verdict in result.report.read_text().replace("&#x27;", "'")
    assert (out / "model" / "synthgrade.json").exists()
    assert len([c for c in result.summary["grid"] if "val_macro_f1" in c]) == 2  # paraphrase and contrast
    grid = (out / "work" / "grid.jsonl").read_bytes()
    calls = server.answered
    again = run_demo(out, overrides=overrides)
    assert (out / "work" / "grid.jsonl").read_bytes() == grid and server.answered == calls
    assert again.verdict == result.verdict
