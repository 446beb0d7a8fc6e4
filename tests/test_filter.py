"""Filtering synthetic rows: LLM re-grading (fake server), human neighbours, a classifier, chaining."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.filtering import SYNTHETIC, fast
from helpers.llm_server import FakeChatServer

from synthgrade.data import load_responses, write_table
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.filter import FilterConfig, agreement_report, filter_synthetic
from synthgrade.filter.llm import majority, parse_grade
from synthgrade.filter.neighbours import neighbour_decisions
from synthgrade.modeling import load_scorer

LABELS = ["correct", "incorrect"]


def test_parse_grade_handles_messy_replies() -> None:
    assert parse_grade('{"rationale": "matches", "label": "correct"}', LABELS) == "correct"
    assert parse_grade('```json\n{"rationale": "no", "label": "Incorrect"}\n```', LABELS) == "incorrect"
    assert parse_grade('Sure. {"rationale": "it says {x}", "label": "incorrect"} Hope that helps', LABELS) == "incorrect"
    assert parse_grade("{'rationale': 'single quotes', 'label': 'correct'}", LABELS) == "correct"
    assert parse_grade("Label: incorrect", LABELS) == "incorrect"
    assert parse_grade("The answer is incorrect.", LABELS) == "incorrect"  # "incorrect" is not read as "correct"
    assert parse_grade("correct or incorrect, hard to say", LABELS) is None
    assert parse_grade('{"label": "partially_correct"}', ["correct", "partially_correct"]) == "partially_correct"
    assert parse_grade("", LABELS) is None and parse_grade('{"label": "maybe"}', LABELS) is None
    assert majority(["a", "b", "a"]) == "a" and majority(["a", "b"]) is None and majority([None, None]) is None


def test_llm_filter_drops_inconsistent_rows_and_reports_kappa(tmp_path: Path, fixtures: Path) -> None:
    human = load_responses(fixtures / "civics.csv")
    with FakeChatServer(script=["500", "429"], retry_after="0") as server:
        result = filter_synthetic(SYNTHETIC, fast(server, votes=3), human, cache_dir=tmp_path / "cache", show_progress=False)
        assert server.answered == 18  # 6 rows x 3 votes
        prompt = server.answered_bodies[0]["messages"][-1]["content"]
        port = server.port
    assert list(result.frame["id"]) == ["s0", "s1", "s3", "s4"]
    assert list(result.frame["filter_label"]) == ["correct", "correct", "incorrect", "incorrect"]
    assert result.frame["filter_votes"].iloc[0] == "correct,correct,correct"
    step = result.summary["steps"][0]
    assert step["kept"] == 4 and step["dropped_by_reason"] == {"regraded_other_label": 2}
    assert step["per_label"] == {"correct": {"rows": 3, "agreement": 0.6667}, "incorrect": {"rows": 3, "agreement": 0.6667}}
    assert step["kappa"] == pytest.approx(1 / 3, abs=1e-3)
    assert step["calls"]["retries"] == 2 and step["calls"]["failed"] == 0
    assert "Examples of scored responses" in prompt and "-> correct" in prompt  # few-shot from human rows of the item
    # --keep all annotates every row and drops nothing; the rerun (same server address: it is in the cache key)
    # is answered by the cache.
    with FakeChatServer(port=port) as server:
        annotated = filter_synthetic(
            SYNTHETIC, fast(server, votes=3, keep="all"), human, cache_dir=tmp_path / "cache", show_progress=False
        )
        assert server.answered == 0
    assert len(annotated.frame) == 6 and list(annotated.frame["filter_consistent"]) == [True, True, False, True, True, False]


def test_neighbour_decisions_on_known_vectors() -> None:
    human = np.array([[1, 0], [0.9, 0.1], [0.95, 0.05], [0, 1], [0.1, 0.9]], dtype=np.float32)
    human /= np.linalg.norm(human, axis=1, keepdims=True)
    human_labels = ["a", "a", "a", "b", "b"]
    synthetic = np.array([[1, 0.02], [0.99, 0.05], [0.05, 1]], dtype=np.float32)
    synthetic /= np.linalg.norm(synthetic, axis=1, keepdims=True)
    out = neighbour_decisions(synthetic, ["a", "b", "b"], ["q"] * 3, human, human_labels, ["q"] * 5, k=3)
    assert out[0]["reason"] is None and out[0]["neighbour_label"] == "a" and out[0]["neighbour_share"] == 1.0
    assert out[1]["reason"] == "neighbours_disagree" and out[1]["centroid_label"] == "a"
    assert out[2]["reason"] is None and out[2]["neighbour_label"] == "b"
    # An item without human rows falls back to all human rows.
    fallback = neighbour_decisions(synthetic[:1], ["a"], ["other"], human, human_labels, ["q"] * 5, k=3)
    assert fallback[0]["reason"] is None and fallback[0]["same_item"] is False


@pytest.mark.slow
def test_neighbours_filter_with_minilm(fixtures: Path) -> None:
    human = load_responses(fixtures / "civics.csv")
    correct = human[human["label"] == "correct"]["text"].tolist()
    rows = pd.DataFrame(
        {
            "id": ["n1", "n2", "n3"],
            "text": [
                correct[0].replace("prices", "the prices"),
                correct[1] + " Really.",
                "Supply and demand decide what prices are.",
            ],
            "label": ["correct", "incorrect", "correct"],
            "item_id": ["econ1"] * 3,
        }
    )
    result = filter_synthetic(rows, FilterConfig(method="neighbours", k=3), human, show_progress=False)
    assert list(result.frame["id"]) == ["n1", "n3"]
    assert result.summary["removed_by_reason"] in ({"neighbours_disagree": 1}, {"closer_to_other_label": 1})
    with pytest.raises(ParameterError, match="^human is needed by the neighbours method"):
        filter_synthetic(rows, FilterConfig(method="neighbours"), None, show_progress=False)


def _tiny_classifier(tiny_encoder: Path, directory: Path) -> Path:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from synthgrade.modeling import ModelInfo
    from synthgrade.scorers.transformer import TransformerScorer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)
    TransformerScorer(model, tokenizer, ModelInfo(kind="transformer", labels=LABELS)).save_pretrained(directory)
    return directory


def test_classifier_filter_and_chaining(tiny_encoder: Path, tmp_path: Path, fixtures: Path) -> None:
    model_dir = _tiny_classifier(tiny_encoder, tmp_path / "clf")
    predicted = load_scorer(model_dir).predict(SYNTHETIC)
    result = filter_synthetic(SYNTHETIC, FilterConfig(method=f"classifier:{model_dir}"), show_progress=False)
    assert list(result.frame["id"]) == [
        i for i, p, lab in zip(SYNTHETIC["id"], predicted, SYNTHETIC["label"], strict=True) if p == lab
    ]
    assert list(result.frame["classifier_label"]) == [p for p, lab in zip(predicted, SYNTHETIC["label"], strict=True) if p == lab]
    human = load_responses(fixtures / "civics.csv")
    with FakeChatServer() as server:
        chained = filter_synthetic(
            SYNTHETIC,
            fast(server, method=["llm", "classifier"], classifier=str(model_dir)),
            human,
            cache_dir=tmp_path / "cache",
            show_progress=False,
        )
    llm_step, clf_step = chained.summary["steps"]
    assert clf_step["rows_in"] == llm_step["kept"] == 4
    assert chained.summary["kept"] == clf_step["kept"] == len(chained.frame)
    assert chained.summary["removed"] == 6 - len(chained.frame) == sum(chained.summary["removed_by_reason"].values())
    with pytest.raises(ValueError, match="needs a model directory"):
        FilterConfig(method="classifier")


def test_llm_grader_baseline_scorer(tmp_path: Path, fixtures: Path) -> None:
    human = load_responses(fixtures / "civics.csv")
    with FakeChatServer() as server:
        scorer = load_scorer(
            "llm:openai:fake-grader", labels=LABELS, examples=human, base_url=server.base_url, votes=1, cache_dir=tmp_path / "c"
        )
        proba = scorer.predict_proba(SYNTHETIC)
        assert list(scorer.predict(SYNTHETIC)) == ["correct", "correct", "incorrect", "incorrect", "incorrect", "correct"]
        assert proba.shape == (6, 2) and np.allclose(proba.sum(axis=1), 1)
        scorer.save_pretrained(tmp_path / "grader")
        again = load_scorer(tmp_path / "grader")
        assert np.allclose(again.predict_proba(SYNTHETIC), proba)
        assert again.info.kind == "llm" and again.labels == LABELS
    info = json.loads((tmp_path / "grader" / "synthgrade.json").read_text())
    assert info["provenance"]["grader"]["model"] == "fake-grader"
    with pytest.raises(SynthgradeError, match="bad grader spec"):
        load_scorer("llm:nowhere", labels=LABELS)


def test_filter_cli(cli, tmp_path: Path, fixtures: Path) -> None:
    write_table(SYNTHETIC, tmp_path / "syn.jsonl")
    with FakeChatServer() as server:
        result = cli(
            "filter", tmp_path / "syn.jsonl", "--out", tmp_path / "kept.jsonl", "--method", "llm", "--backend", "openai",
            "--model", "fake", "--base-url", server.base_url, "--human", fixtures / "civics.csv", "--cache", tmp_path / "c",
            "--no-progress",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    kept = pd.read_json(tmp_path / "kept.jsonl", lines=True)
    assert list(kept["id"]) == ["s0", "s1", "s3", "s4"]
    summary = json.loads((tmp_path / "kept.summary.json").read_text())
    assert summary["kept"] == 4 and summary["steps"][0]["kappa"] is not None
    bad = cli("filter", tmp_path / "syn.jsonl", "--out", tmp_path / "k.jsonl", "--method", "vibes")
    assert bad.returncode == 2 and "unknown method 'vibes'" in bad.stderr


def test_agreement_report_edge_cases() -> None:
    report = agreement_report(["a", "a"], [None, None], ["a", "b"])
    assert report["kappa"] is None and report["judged"] == 0 and report["unjudged"] == 2


def test_agreement_report_kappa_undefined_when_only_one_known_label_occurs() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn warns (and returns nan) when it is asked for an undefined kappa
        report = agreement_report(["a", "a", "a"], ["a", "maybe", "a"], ["a", "b"])
    assert report["kappa"] is None and report["judged"] == 3 and report["agreement"] == 0.6667
    assert agreement_report(["a", "b", "a"], ["a", "b", "b"], ["a", "b"])["kappa"] == 0.4
