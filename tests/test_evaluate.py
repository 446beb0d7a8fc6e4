"""Metrics equal scikit-learn and hand-computed values; bootstrap CIs are seeded and contain the estimate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from synthgrade.errors import SynthgradeError
from synthgrade.evaluate import evaluate_scorer, metrics_table, record_evaluation
from synthgrade.metrics import (
    HEADLINE,
    auc_scores,
    confusion_matrices,
    evaluate_predictions,
    paired_bootstrap_diff,
    point_metrics,
)
from synthgrade.modeling import ModelInfo, Scorer
from synthgrade.speed import measure_speed


def random_case(n: int = 300, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0  # informative but imperfect
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, proba


class FixedScorer(Scorer):
    """Returns preset probabilities keyed by response text (a stand-in model)."""

    def __init__(self, table: dict[str, list[float]], labels: list[str], kind: str = "fixed") -> None:
        self.table = table
        self.info = ModelInfo(kind=kind, labels=labels)

    def predict_proba_inputs(self, first, second, batch_size: int = 64) -> np.ndarray:
        return np.array([self.table[t] for t in first])

    def save_weights(self, directory):  # pragma: no cover - not needed here
        raise NotImplementedError

    @classmethod
    def load_weights(cls, directory, info):  # pragma: no cover
        raise NotImplementedError


@pytest.mark.parametrize("k", [2, 3])
def test_metrics_equal_scikit_learn(k: int) -> None:
    y, proba = random_case(k=k)
    pred = proba.argmax(1)
    result = evaluate_predictions(y, proba, [f"l{i}" for i in range(k)], bootstrap=0, ordinal=True)
    assert result["accuracy"]["value"] == pytest.approx(accuracy_score(y, pred))
    assert result["macro_f1"]["value"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert result["kappa"]["value"] == pytest.approx(cohen_kappa_score(y, pred))
    assert result["qwk"]["value"] == pytest.approx(cohen_kappa_score(y, pred, weights="quadratic", labels=list(range(k))))
    expected_auc = roc_auc_score(y, proba[:, 1]) if k == 2 else roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert result["auc"]["value"] == pytest.approx(expected_auc)
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, zero_division=0)
    for j in range(k):
        entry = result["per_label"][f"l{j}"]
        assert entry["precision"]["value"] == pytest.approx(precision[j]) and entry["recall"]["value"] == pytest.approx(recall[j])
        assert entry["f1"]["value"] == pytest.approx(f1[j]) and entry["support"] == support[j]
    assert result["confusion_matrix"]["matrix"] == confusion_matrix(y, pred).tolist()
    assert result["accuracy"]["ci_low"] is None and result["bootstrap"] == 0  # no resamples, no interval


def test_hand_computed_binary_case() -> None:
    # true:  a a a b b ; predicted: a a b b a  -> TP(a)=2, FN(a)=1, FP(a)=1; TP(b)=1, FN(b)=1, FP(b)=1
    y = np.array([0, 0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]])
    result = evaluate_predictions(y, proba, ["a", "b"], bootstrap=0)
    assert result["accuracy"]["value"] == pytest.approx(3 / 5)
    f1_a, f1_b = 2 * (2 / 3) * (2 / 3) / (4 / 3), 2 * 0.5 * 0.5 / 1.0
    assert result["macro_f1"]["value"] == pytest.approx((f1_a + f1_b) / 2)
    # po = 0.6; pe = (3*3 + 2*2) / 25 = 0.52; kappa = 0.08 / 0.48
    assert result["kappa"]["value"] == pytest.approx(0.08 / 0.48)
    # AUC: positives (b) scores 0.7, 0.4; negatives 0.1, 0.2, 0.6 -> pairs won: 3 + 2 = 5 of 6
    assert result["auc"]["value"] == pytest.approx(5 / 6)
    assert result["confusion_matrix"]["matrix"] == [[2, 1], [1, 1]]


def test_qwk_only_for_ordinal_or_binary_labels() -> None:
    y, proba = random_case(k=3)
    nominal = evaluate_predictions(y, proba, ["x", "y", "z"], bootstrap=50, ordinal=False)
    assert nominal["qwk"] == {"value": None, "ci_low": None, "ci_high": None} and not nominal["qwk_applies"]
    assert evaluate_predictions(y, proba, ["x", "y", "z"], bootstrap=0, ordinal=True)["qwk"]["value"] is not None


def test_bootstrap_intervals_contain_the_estimate_and_are_seeded() -> None:
    y, proba = random_case(n=500, k=3)
    first = evaluate_predictions(y, proba, ["a", "b", "c"], bootstrap=400, seed=7, ordinal=True)
    again = evaluate_predictions(y, proba, ["a", "b", "c"], bootstrap=400, seed=7, ordinal=True)
    other = evaluate_predictions(y, proba, ["a", "b", "c"], bootstrap=400, seed=8, ordinal=True)
    for name in HEADLINE:
        entry = first[name]
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"] and entry["ci_low"] < entry["ci_high"]
        assert entry == again[name]
    assert first["macro_f1"]["ci_low"] != other["macro_f1"]["ci_low"]
    for label in ("a", "b", "c"):
        f1 = first["per_label"][label]["f1"]
        assert f1["ci_low"] <= f1["value"] <= f1["ci_high"]


def test_batched_resample_metrics_equal_per_resample_scikit_learn() -> None:
    y, proba = random_case(n=120, k=3, seed=3)
    pred = proba.argmax(1)
    index = np.random.default_rng(0).integers(0, 120, size=(5, 120))
    cms = confusion_matrices(y, pred, 3, index)
    aucs = auc_scores(y, proba, index)
    for b in range(5):
        assert cms[b].tolist() == confusion_matrix(y[index[b]], pred[index[b]], labels=[0, 1, 2]).tolist()
        assert aucs[b] == pytest.approx(roc_auc_score(y[index[b]], proba[index[b]], multi_class="ovr", average="macro"))


def frames() -> tuple[pd.DataFrame, dict[str, list[float]], dict[str, list[float]]]:
    test = pd.DataFrame(
        {"id": [f"r{i}" for i in range(40)], "text": [f"answer {i}" for i in range(40)], "label": ["ok", "no"] * 20}
    )
    good = {f"answer {i}": ([0.8, 0.2] if i % 2 == 0 else [0.3, 0.7]) if i % 10 else [0.4, 0.6] for i in range(40)}
    weak = {f"answer {i}": ([0.6, 0.4] if i % 3 else [0.4, 0.6]) for i in range(40)}
    return test, good, weak


def test_evaluate_scorer_with_paired_comparison() -> None:
    test, good, weak = frames()
    # The compare model lists its labels in another order: columns are realigned.
    weak_swapped = {k: v[::-1] for k, v in weak.items()}
    result = evaluate_scorer(
        FixedScorer(good, ["ok", "no"]), test, bootstrap=300, seed=1, compare=FixedScorer(weak_swapped, ["no", "ok"])
    )
    for key in ("accuracy", "macro_f1", "kappa", "qwk", "auc", "per_label", "confusion_matrix", "n", "test_hash", "diff"):
        assert key in result
    y = (test["label"] == "no").astype(int).to_numpy()
    acc_good = ((np.array([good[t] for t in test["text"]]).argmax(1)) == y).mean()
    acc_weak = ((np.array([weak[t] for t in test["text"]]).argmax(1)) == y).mean()
    diff = result["diff"]["accuracy"]
    assert diff["value"] == pytest.approx(acc_good - acc_weak) and diff["ci_low"] <= diff["value"] <= diff["ci_high"]
    assert diff["other"]["value"] == pytest.approx(acc_weak) and 0 <= diff["p_value"] <= 1
    assert "difference" in str(metrics_table(result).columns[4].header)


def test_evaluate_refuses_unknown_labels_and_synthetic_rows() -> None:
    test, good, _ = frames()
    with pytest.raises(SynthgradeError, match="label 'maybe'"):
        evaluate_scorer(FixedScorer(good, ["ok", "no"]), test.assign(label="maybe"))
    with pytest.raises(SynthgradeError, match="synthetic rows"):
        evaluate_scorer(FixedScorer(good, ["ok", "no"]), test.assign(synthetic=True))


@pytest.mark.parametrize(
    "column, value", [("synthetic", "true"), ("synthetic", "1"), ("prompt_hash", "abc123"), ("sample_index", "0")]
)
def test_evaluate_refuses_a_test_file_with_synthetic_rows(tmp_path: Path, column: str, value: str) -> None:
    """The test guard is the validation guard: a flag in any true spelling, or generation provenance, is refused."""
    from synthgrade.data import load_responses, write_table

    test, good, _ = frames()
    polluted = test.assign(**{column: [""] * 39 + [value]})
    write_table(polluted, tmp_path / "test.csv")
    with pytest.raises(SynthgradeError, match="test.csv line 41: the test data contains 1 synthetic rows"):
        evaluate_scorer(FixedScorer(good, ["ok", "no"]), load_responses(tmp_path / "test.csv"), bootstrap=10)
    clean = test.assign(synthetic=["false"] * 40, prompt_hash=[""] * 40)  # explicit human rows are fine
    write_table(clean, tmp_path / "clean.csv")
    assert evaluate_scorer(FixedScorer(good, ["ok", "no"]), load_responses(tmp_path / "clean.csv"), bootstrap=10)["n"] == 40


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1", "kappa", "qwk"])
def test_report_and_evaluate_give_the_same_paired_interval(metric: str) -> None:
    """The report's paired bootstrap (hard predictions) and evaluate's (probabilities) are one computation."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 80)
    mine = np.where(rng.random(80) < 0.7, y, rng.integers(0, 3, 80))
    other = np.where(rng.random(80) < 0.5, y, 0)  # another model that over-predicts label 0
    mine[mine == 2] = 1  # this model never predicts label 2, which occurs in y
    evaluated = evaluate_predictions(y, np.eye(3)[mine], ["a", "b", "c"], ordinal=True, compare_proba=np.eye(3)[other])
    diff = evaluated["diff"][metric]
    assert paired_bootstrap_diff(metric, y.tolist(), mine.tolist(), other.tolist(), 3) == (
        diff["value"],
        diff["ci_low"],
        diff["ci_high"],
    )
    assert diff["ci_low"] < diff["ci_high"]


def test_record_evaluation_replaces_same_test_entry(tmp_path: Path) -> None:
    ModelInfo(kind="transformer", labels=["ok", "no"]).save(tmp_path)
    test, good, _ = frames()
    result: dict[str, Any] = evaluate_scorer(FixedScorer(good, ["ok", "no"]), test, bootstrap=50)
    record_evaluation(tmp_path, result, "test.csv")
    record_evaluation(tmp_path, result, "test.csv")
    saved = json.loads((tmp_path / "synthgrade.json").read_text())["evaluations"]
    assert (
        len(saved) == 1 and saved[0]["test_hash"] == result["test_hash"] and saved[0]["metrics"]["accuracy"] == result["accuracy"]
    )


def test_point_metrics_skip_unlabelled_rows() -> None:
    y = np.array([0, 1, -1])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    assert point_metrics(y, proba, ["a", "b"])["accuracy"] == 1.0


def test_measure_speed_reports_throughput_and_latency() -> None:
    test, good, _ = frames()
    speed = measure_speed(FixedScorer(good, ["ok", "no"]), test, batch_size=8, single=10)
    assert speed["responses_per_s"] > 0 and speed["batch_rows"] == 40
    assert 0 <= speed["latency_ms"]["p50"] <= speed["latency_ms"]["p95"] and speed["latency_ms"]["n"] == 10


def test_evaluate_command_passes_labels_and_training_examples_to_llm_graders(monkeypatch, tmp_path: Path) -> None:
    """An ``llm:`` spec gets the label list and the --train rows as few-shot context (never the test rows)."""
    import synthgrade.modeling
    from synthgrade.commands.train import evaluate
    from synthgrade.data import write_table

    test, good, _ = frames()
    train = pd.DataFrame({"id": ["e1", "e2"], "text": ["answer 1", "answer 2"], "label": ["no", "ok"]})
    write_table(test, tmp_path / "test.csv")
    write_table(train, tmp_path / "train.csv")
    seen: dict[str, Any] = {}

    def fake_load(spec, **context):
        seen.update(spec=spec, **context)
        return FixedScorer(good, list(context["labels"]), kind="llm")

    monkeypatch.setattr(synthgrade.modeling, "load_scorer", fake_load)
    evaluate("llm:openai:gpt-4o", tmp_path / "test.csv", tmp_path / "m.json", train_examples=tmp_path / "train.csv", bootstrap=20,
             labels="ok,no")  # fmt: skip
    assert seen["spec"] == "llm:openai:gpt-4o" and seen["labels"] == ["ok", "no"]
    assert seen["examples"]["id"].tolist() == ["e1", "e2"]
    assert json.loads((tmp_path / "m.json").read_text())["model"] == "llm:openai:gpt-4o"
    overlap = train.assign(id=["r0", "e2"])
    write_table(overlap, tmp_path / "train.csv")
    with pytest.raises(SynthgradeError, match="both the --train example and test data"):
        evaluate("llm:openai:gpt-4o", tmp_path / "test.csv", tmp_path / "m2.json", train_examples=tmp_path / "train.csv")


def test_bad_evaluation_requests_name_the_parameter() -> None:
    from synthgrade.errors import ParameterError

    y, proba = random_case(k=2)
    with pytest.raises(ParameterError, match="^bootstrap must be 0 or more, got -1$"):
        evaluate_predictions(y, proba, ["a", "b"], bootstrap=-1)
    test, good, weak = frames()
    with pytest.raises(ParameterError, match=r"^compare model has labels \['ok', 'maybe'\], this model has") as caught:
        evaluate_scorer(FixedScorer(good, ["ok", "no"]), test, bootstrap=0, compare=FixedScorer(weak, ["ok", "maybe"]))
    assert caught.value.param == "compare"
