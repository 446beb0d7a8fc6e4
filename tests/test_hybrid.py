"""Hybrid scorer (frozen encoder + lexical features) and ``--model auto`` on tiny random encoders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.training_rows import args, rows

from synthgrade.errors import SynthgradeError
from synthgrade.modeling import load_scorer
from synthgrade.scorers.hybrid import HybridFeatures, HybridScorer, ItemCharModel, parse_spec
from synthgrade.train import Trainer
from synthgrade.train.auto import Candidate, choose


@pytest.fixture(scope="module")
def hybrid(tiny_encoder: Path) -> HybridScorer:
    scorer = Trainer(args(f"hybrid:{tiny_encoder}")).train(rows("t", 60), rows("v", 20, start=500))
    assert isinstance(scorer, HybridScorer)
    return scorer


def test_hybrid_learns_and_records_cross_validation(hybrid: HybridScorer):
    training = hybrid.info.training
    assert hybrid.info.kind == "hybrid"
    assert training["validation"]["macro_f1"] >= 0.9
    assert 0.0 <= training["cv_macro_f1"] <= 1.0
    assert {row["C"] for row in training["curve"]["seen"]}  # C was chosen by cross-validation on training rows


def test_hybrid_round_trip_and_unseen_items(hybrid: HybridScorer, tmp_path: Path, tiny_encoder: Path):
    hybrid.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "encoder" / "config.json").exists()  # a local encoder folder travels with the model
    assert not list((tmp_path / "m").glob("*.pkl"))
    loaded = load_scorer(tmp_path / "m")
    test = pd.concat([rows("x", 10, start=900), rows("u", 6, start=950, item="q-new")], ignore_index=True)
    test.loc[test["item_id"] == "q-new", "item_text"] = "Why does ice float?"
    np.testing.assert_allclose(loaded.predict_proba(test), hybrid.predict_proba(test), atol=1e-6)
    seen = loaded.features.seen(*loaded.check_scorable(test))
    assert seen.tolist() == [True] * 10 + [False] * 6  # new items go to the item-agnostic head
    assert set(loaded.predict(test)) <= {"correct", "incorrect"}


def test_neighbour_features_leave_the_row_itself_out(tiny_encoder: Path):
    features = HybridFeatures(str(tiny_encoder), pair=True, labels=2, max_length=32)
    contexts = ["Q Reference: A"] * 3
    features.fit(contexts, ["alpha beta", "gamma delta", "epsilon"], np.array([0, 1, 1]))
    assert features.item_chars is None  # 3 rows for the item: too few for per-item n-gram weights
    training = features.blocks(contexts, ["alpha beta", "gamma delta", "epsilon"], training=True)["neighbours"]
    # Row 0 is the only label-0 row: left out, it has no label-0 neighbour; scored as new data it finds itself.
    assert training[0, 2] == 0.0 and training[1, 2] == 1.0 and training[0, 5] == 1.0
    scored = features.blocks(contexts[:1], ["alpha beta"])["neighbours"]
    assert scored[0, 2] == 1.0 and scored[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_hybrid_spec_errors():
    with pytest.raises(SynthgradeError, match="hybrid:<encoder>"):
        parse_spec("hybrid:")
    assert parse_spec("hybrid:minilm-l6") == "minilm-l6"


def test_choose_prefers_clear_validation_winner():
    y = np.array([0, 1] * 50)
    right = np.eye(2)[y]
    wrong = np.eye(2)[1 - y]
    candidates = [Candidate("tfidf", object(), wrong, cv_macro_f1=0.9), Candidate("hybrid", object(), right, cv_macro_f1=0.5)]
    winner, record = choose(candidates, y, ["a", "b"], train_rows=400, rule="tie")
    assert winner == 1 and record["chosen"] == "hybrid" and "clearly ahead" in record["reason"]
    assert record["leaderboard"][0]["tied_with_best"] is False


def test_pooled_rule_weighs_cross_validation_against_a_small_validation_set():
    y = np.array([0, 1] * 5)
    right, wrong = np.eye(2)[y], np.eye(2)[1 - y]
    candidates = [Candidate("tfidf", object(), wrong, cv_macro_f1=0.9), Candidate("hybrid", object(), right, cv_macro_f1=0.5)]
    assert choose(candidates, y, ["a", "b"], train_rows=400, rule="tie")[0] == 1  # 10 validation rows separate them
    winner, record = choose(candidates, y, ["a", "b"], train_rows=400, rule="pooled")
    assert winner == 0 and record["rule"] == "pooled"  # (0.9 * 400 + 0 * 10) / 410 > (0.5 * 400 + 1 * 10) / 410
    assert "pooled with validation (0.878" in record["reason"]


def test_choose_breaks_validation_ties_by_cross_validation():
    y = np.array([0, 1, 0, 1, 0])
    proba = np.eye(2)[y]
    tie = proba.copy()
    tie[0] = [0.4, 0.6]  # one of five validation rows differs: no bootstrap can separate them
    candidates = [Candidate("tfidf", object(), proba, cv_macro_f1=0.55), Candidate("hybrid", object(), tie, cv_macro_f1=0.8)]
    winner, record = choose(candidates, y, ["a", "b"], train_rows=40, rule="tie")
    assert winner == 1 and "cannot separate" in record["reason"]


def test_auto_trains_candidates_and_records_the_choice(tiny_encoder: Path, tmp_path: Path):
    auto = args("auto", candidates=["tfidf", f"hybrid:{tiny_encoder}"], time_budget=600)
    scorer = Trainer(auto).train(rows("t", 40), rows("v", 16, start=500))
    record = scorer.info.training["auto"]
    assert [row["model"] for row in record["leaderboard"]] == ["tfidf", f"hybrid:{tiny_encoder}"]
    assert record["chosen"] in {"tfidf", f"hybrid:{tiny_encoder}"} and record["reason"]
    scorer.save_pretrained(tmp_path / "auto")
    card = (tmp_path / "auto" / "README.md").read_text()
    assert "auto" in card and record["chosen"] in card
    saved = json.loads((tmp_path / "auto" / "synthgrade.json").read_text())
    assert saved["training"]["auto"]["chosen"] == record["chosen"]


def test_auto_skips_candidates_over_the_time_budget(tiny_encoder: Path):
    auto = args("auto", candidates=["tfidf", "mpnet-base"], time_budget=30)
    scorer = Trainer(auto).train(rows("t", 40), rows("v", 16, start=500))
    board = scorer.info.training["auto"]["leaderboard"]
    assert board[1]["model"] == "mpnet-base" and "time budget" in board[1]["skipped"]
    with pytest.raises(SynthgradeError, match="time budget"):
        Trainer(args("auto", candidates=["mpnet-base"], time_budget=1)).train(rows("t", 40), rows("v", 16, start=500))


def test_cli_train_defaults_to_auto_and_predict_takes_the_winner(cli, tmp_path: Path, tiny_encoder: Path):
    rows("t", 40).to_csv(tmp_path / "train.csv", index=False)
    # other texts than the training rows': train's leakage guard compares texts, and the toy texts cycle
    rows("v", 16, start=500).assign(text=lambda f: f["text"] + " again").to_csv(tmp_path / "val.csv", index=False)
    result = cli(
        "train", "--human", tmp_path / "train.csv", "--val", tmp_path / "val.csv", "--out", tmp_path / "m",
        "--candidates", f"tfidf,hybrid:{tiny_encoder}", "--max-length", "32",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "auto: chose" in result.stderr + result.stdout
    result = cli("predict", tmp_path / "m", tmp_path / "val.csv", "--out", tmp_path / "pred.csv")
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(tmp_path / "pred.csv")) == 16


def test_static_student_of_a_hybrid_teacher(hybrid: HybridScorer, tmp_path: Path, monkeypatch):
    from synthgrade.distill import DistillationArguments, DistillationTrainer
    from synthgrade.distill.hybrid_student import PROJECTION_PENALTIES

    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "cache"))
    unlabeled = rows("n", 30, start=700).drop(columns=["label"])
    student = DistillationTrainer(hybrid, DistillationArguments(student="static", show_progress=False, speed_rows=16)).train(
        rows("t", 60), rows("v", 20, start=500), unlabeled
    )
    summary = student.info.training["distillation"]
    assert student.info.kind == "hybrid" and summary["student_encoder"].startswith("static:")
    # The static vectors are mapped into the teacher's space (penalty chosen by cross-validation) and saved with it.
    assert summary["projection"]["penalty"] in PROJECTION_PENALTIES and summary["projection"]["texts"] >= 10
    assert student.features.projection is not None
    assert student.features.projection.shape[1] == hybrid.features.bank_embeddings.shape[1]
    assert summary["transfer_rows"] == 60 and summary["unlabeled_rows"] == 30
    assert 0.0 <= summary["agreement_val"] <= 1.0 and summary["speedup"] > 0
    student.save_pretrained(tmp_path / "student")
    assert (tmp_path / "student" / "encoder" / "config.json").exists()  # the static encoder travels with it
    loaded = load_scorer(tmp_path / "student")
    np.testing.assert_allclose(loaded.features.projection, student.features.projection)
    probe = rows("p", 6, start=800)
    np.testing.assert_allclose(loaded.predict_proba(probe), student.predict_proba(probe), atol=1e-6)


def test_item_char_model_learns_per_item_spellings_and_round_trips():
    # The same answer is right for one item and wrong for the other: only per-item weights can tell them apart.
    responses = ["evaporashun of water", "evaporation of water", "filtering it", "filtrate it"] * 6 + ["magnets pull"] * 2
    items = ["qa"] * 12 + ["qb"] * 14
    y = np.array([1, 1, 0, 0] * 3 + [0, 0, 1, 1] * 3 + [1, 1])
    model = ItemCharModel()
    stack = model.fit(responses, items, y, seed=0, num_labels=2)
    assert stack.shape == (26, 2)  # out-of-fold log-probabilities of the training rows
    probe = ["evaporashun of the water", "evaporashun of the water", "evaporashun of the water"]
    proba = np.exp(model.log_proba(probe, ["qa", "qb", "q-new"], 2))
    assert proba[0, 1] > 0.5 > proba[1, 1]  # a misspelling of item qa's right answer is right for qa only
    # An item without training rows gets only the intercept: the same score whatever the response.
    np.testing.assert_allclose(np.exp(model.log_proba(["filtrate"], ["q-new"], 2)), proba[2:3], atol=1e-9)
    arrays = model.arrays()
    assert len(arrays["itemchars_used"]) < int(arrays["itemchars_width"])  # only columns seen in training are stored
    loaded = ItemCharModel.from_state(json.loads(json.dumps(model.state())), arrays)
    np.testing.assert_allclose(
        loaded.log_proba(probe, ["qa", "qb", "q-new"], 2), model.log_proba(probe, ["qa", "qb", "q-new"], 2)
    )


def test_hybrid_stacks_the_item_char_model_on_the_seen_head_only(hybrid: HybridScorer):
    features = hybrid.features
    assert features.item_chars is not None and "item_stack" in features.scale
    seen, unseen = features.matrices(features.blocks(*hybrid.check_scorable(rows("x", 4, start=900))))
    assert seen.shape[1] == unseen.shape[1] + 3 * 2 + 2 + 2  # neighbours (3 per label), lexical and item stacks


def test_ensemble_weight_mixes_models_that_err_on_different_rows():
    from synthgrade.scorers.ensemble import ensemble_weight

    y = np.array([0, 1] * 10)
    right, near_miss = np.eye(2)[y] * 0.9 + 0.05, np.eye(2)[1 - y] * 0.1 + 0.45  # confident right / slightly wrong
    first = np.where(np.arange(20)[:, None] < 10, right, near_miss)  # right on the first half only
    second = np.where(np.arange(20)[:, None] < 10, near_miss, right)  # right on the second half only
    weight, score, curve = ensemble_weight(first, second, y)
    assert 0.0 < weight < 1.0 and score == 1.0
    assert {row["weight"]: row["cv_macro_f1"] for row in curve}[1.0] < 1.0  # either alone misses half the rows
    dominated, _, _ = ensemble_weight(np.eye(2)[y], np.eye(2)[1 - y], y)  # the second is always confidently wrong
    assert dominated > 0.5


def test_auto_ensemble_of_hybrid_and_lexical_scores_saves_and_loads(hybrid: HybridScorer, tiny_encoder: Path, tmp_path: Path):
    from synthgrade.data import label_indices
    from synthgrade.scorers.ensemble import EnsembleScorer, weighted
    from synthgrade.train.auto import ensemble_candidate

    train, val = rows("t", 60), rows("v", 20, start=500)
    assert hybrid.oof_proba is not None and hybrid.oof_proba.shape == (60, 2)
    assert hybrid.oof_proba.argmax(axis=1).tolist() == hybrid.info.training["oof"]["pred"]  # the seen head's folds
    lexical = Trainer(args("lexical")).train(train, val)
    candidates = [Candidate(f"hybrid:{tiny_encoder}", hybrid, hybrid.predict_proba(val), hybrid.info.training["cv_macro_f1"])]
    assert ensemble_candidate(candidates, train, label_indices(val, hybrid.labels), hybrid.labels) is None  # no lexical
    candidates.append(Candidate("lexical", lexical, lexical.predict_proba(val), lexical.info.training["cv_macro_f1"]))
    combined = ensemble_candidate(candidates, train, label_indices(val, hybrid.labels), hybrid.labels)
    assert combined is not None and combined.spec == f"ensemble:hybrid:{tiny_encoder}+lexical"
    weight = combined.extra["weight"]
    assert 0.0 < weight < 1.0 and isinstance(combined.scorer, EnsembleScorer)
    expected = weight * hybrid.predict_proba(val) + (1 - weight) * lexical.predict_proba(val)
    np.testing.assert_allclose(combined.val_proba, expected)
    np.testing.assert_allclose(combined.scorer.predict_proba(val), expected)
    assert combined.scorer.info.training["oof"]["ids"] == train["id"].tolist()
    again = load_scorer(combined.scorer.save_pretrained(tmp_path / "ensemble"))
    assert isinstance(again, EnsembleScorer) and again.weights == [weight, 1 - weight]
    np.testing.assert_allclose(again.predict_proba(val), expected, rtol=1e-5)
    retrained = Trainer(args(f"ensemble:hybrid:{tiny_encoder}+lexical")).train(train, val)  # the spec auto records
    assert isinstance(retrained, EnsembleScorer) and retrained.weights == [weight, 1 - weight]
    np.testing.assert_allclose(retrained.predict_proba(val), expected, rtol=1e-5, atol=1e-6)
    with_tfidf = Trainer(args(f"ensemble:hybrid:{tiny_encoder}+tfidf")).train(train, val)  # tfidf's C is cross-validated too
    assert isinstance(with_tfidf, EnsembleScorer) and with_tfidf.info.training["oof"]["ids"] == train["id"].tolist()
    lexical.oof_proba = None  # what a member fitted without folds (or a fine-tuned transformer) has
    with pytest.raises(SynthgradeError, match="each member needs out-of-fold probabilities"):
        y_val = label_indices(val, hybrid.labels)
        weighted([hybrid, lexical], ["hybrid", "lexical"], train, [hybrid.predict_proba(val)] * 2, y_val, hybrid.labels)
    (tmp_path / "ensemble" / "ensemble.json").unlink()
    with pytest.raises(SynthgradeError, match="damaged ensemble model files"):
        load_scorer(tmp_path / "ensemble")


def test_hybrid_with_the_lexical_recipe_stacked_round_trips(tiny_encoder: Path, tmp_path: Path, monkeypatch):
    from synthgrade.scorers.hybrid import features as hybrid_module

    monkeypatch.setattr(hybrid_module, "RECIPE_STACK", True)
    train, val = rows("t", 40), rows("v", 12, start=500)
    scorer = Trainer(args(f"hybrid:{tiny_encoder}")).train(train, val)
    assert scorer.features.recipe is not None and "recipe_stack" in scorer.features.scale
    seen_matrix, _ = scorer.features.matrices(scorer.features.blocks(*scorer.check_scorable(val)))
    assert seen_matrix.shape[1] == scorer.heads["seen"].coef_.shape[1]  # the recipe's columns reach the seen head
    again = load_scorer(scorer.save_pretrained(tmp_path / "m"))
    np.testing.assert_allclose(again.predict_proba(val), scorer.predict_proba(val), rtol=1e-5, atol=1e-6)
    monkeypatch.setattr(hybrid_module, "RECIPE_STACK", False)
    plain = Trainer(args(f"hybrid:{tiny_encoder}")).train(train, val)
    assert plain.features.recipe is None and plain.heads["seen"].coef_.shape[1] == seen_matrix.shape[1] - 2
