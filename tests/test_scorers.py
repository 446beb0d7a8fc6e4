"""The scorer family: the kind registry, a new kind trained and loaded without touching train/, TrainingArguments."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from synthgrade import modeling
from synthgrade.distill import DistillationArguments
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.io import read_json, write_json
from synthgrade.modeling import ModelInfo, load_scorer
from synthgrade.scorers import TrainableScorer, TrainingArguments, kind_for, register, scorer_class, trainable_kinds
from synthgrade.scorers.hybrid import HybridScorer
from synthgrade.scorers.tfidf import TfidfScorer
from synthgrade.scorers.transformer import TransformerScorer, TransformerTrainer
from synthgrade.train import Trainer


def frame(prefix: str, n: int, start: int = 0) -> pd.DataFrame:
    labels = ["yes" if i % 3 else "no" for i in range(start, start + n)]
    return pd.DataFrame(
        {"id": [f"{prefix}{i}" for i in range(start, start + n)], "text": [f"answer {i}" for i in range(n)], "label": labels}
    )


def test_each_spec_goes_to_the_kind_that_trains_it() -> None:
    assert kind_for("tfidf") is TfidfScorer
    assert kind_for("hybrid") is HybridScorer and kind_for("hybrid:minilm-l6") is HybridScorer
    assert kind_for("minilm-l6") is TransformerScorer and kind_for("/models/my-encoder") is TransformerScorer
    assert kind_for("tfidf-like-folder") is TransformerScorer  # only the exact name picks tfidf
    with pytest.raises(SynthgradeError, match="unknown scorer kind 'ghost'"):
        scorer_class("ghost")


def test_every_trainable_kind_saves_under_its_name_and_loads_with_the_same_class() -> None:
    """A directory written by a kind must come back through load_scorer as that kind (the on-disk contract)."""
    assert trainable_kinds() == ["tfidf", "lexical", "hybrid", "ensemble", "transformer"]
    for kind, entry in modeling.SCORER_KINDS.items():
        cls = modeling.scorer_class_of(kind)
        assert cls.kind == kind and (issubclass(cls, TrainableScorer) or not entry.trainable)
        module_name, _, class_name = entry.target.partition(":")
        assert getattr(importlib.import_module(module_name), class_name) is cls
    with pytest.raises(SynthgradeError, match="unknown scorer kind 'onnx'"):  # loadable, but train cannot fit it
        scorer_class("onnx")


class MajorityScorer(TrainableScorer):
    """A kind defined outside the package: it predicts the training label shares for every row."""

    kind = "majority"

    def __init__(self, shares: list[float], info: ModelInfo) -> None:
        self.shares, self.info = shares, info

    @classmethod
    def fit(cls, train_df, val_df, args, labels, provenance=None) -> MajorityScorer:  # type: ignore[override]
        counts = train_df["label"].astype(str).value_counts()
        shares = [float(counts.get(label, 0)) / len(train_df) for label in labels]
        info = ModelInfo(kind=cls.kind, labels=labels, training={"arguments": args.to_dict()}, provenance=provenance or {})
        return cls(shares, info)

    def predict_proba_inputs(self, first: Sequence[str], second: Sequence[str] | None, batch_size: int = 64) -> np.ndarray:
        return np.tile(self.shares, (len(first), 1))

    def save_weights(self, directory: Path) -> None:  # the base class writes the folder and synthgrade.json
        write_json(directory / "shares.json", self.shares)

    @classmethod
    def load_weights(cls, directory: Path, info: ModelInfo) -> MajorityScorer:
        return cls(read_json(directory / "shares.json"), info)


def test_a_new_kind_trains_through_train_and_loads_without_touching_train(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(modeling.kinds, "SCORER_KINDS", dict(modeling.SCORER_KINDS))  # where register_kind writes
    register("majority", f"{__name__}:MajorityScorer")  # one call: train fits it and load_scorer opens it
    train, val = frame("t", 30), frame("v", 9, start=100)
    scorer = Trainer(TrainingArguments(model="majority", show_progress=False)).train(train, val)
    assert isinstance(scorer, MajorityScorer) and scorer.labels == ["no", "yes"]
    assert scorer.shares == pytest.approx([10 / 30, 20 / 30])
    assert scorer.info.provenance["train_rows"] == 30 and scorer.info.provenance["val_rows"] == 9  # the stage's record
    again = load_scorer(scorer.save_pretrained(tmp_path / "majority"))
    assert isinstance(again, MajorityScorer) and again.predict(val).tolist() == ["yes"] * 9
    with pytest.raises(SynthgradeError, match="synthetic rows"):  # the stage's guards hold for every kind
        Trainer(TrainingArguments(model="majority", show_progress=False)).train(train, val.assign(synthetic=True))


def test_training_arguments_from_dict() -> None:
    args = TrainingArguments(model="tfidf", epochs=4, lr=1e-3, labels=["a", "b"], cache_dir=Path("/tmp/tokens"))
    assert TrainingArguments.from_dict(args.to_dict()) == args  # a saved record rebuilds the arguments
    config = {"model": "minilm-l6", "epochs": 2, "max_length": 96}
    built = TrainingArguments.from_dict(config, seed=7, epochs=5)
    assert (built.model, built.epochs, built.max_length, built.seed) == ("minilm-l6", 5, 96, 7)  # overrides win
    with pytest.raises(SynthgradeError, match="unknown training argument.*epoch_count"):
        TrainingArguments.from_dict({"epoch_count": 3})
    assert TrainingArguments.from_dict({"epoch_count": 3, "lr": 0.1}, ignore_extra=True).lr == 0.1
    distil = DistillationArguments.from_dict({"student": "static", "tau": 3.0})
    assert isinstance(distil, DistillationArguments) and distil.lr == 5e-3 and distil.tau == 3.0
    with pytest.raises(ParameterError, match="^tau must be positive"):
        DistillationArguments.from_dict({"tau": 0})


def test_bad_arguments_name_the_parameter_not_a_flag() -> None:
    with pytest.raises(ParameterError) as caught:
        TrainingArguments(synthetic_weight=0)
    assert caught.value.param == "synthetic_weight" and str(caught.value) == "synthetic_weight must be positive, got 0"
    with pytest.raises(ParameterError, match="^eval_batch_size must be at least 1"):
        TrainingArguments(eval_batch_size=0)


def test_learning_rate_warms_up_then_decays_linearly_to_zero() -> None:
    """transformers' linear schedule: 0 -> lr over the warm-up steps, then straight down to 0 at the last step."""
    import torch

    trainer = TransformerTrainer(TrainingArguments(lr=1e-3, warmup_ratio=0.2, weight_decay=0.01))
    model = torch.nn.Linear(4, 2)
    optimizer, scheduler = trainer.create_optimizer_and_scheduler(model, total_steps=10)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [0.0, 0.5] + [(10 - step) / 8 for step in range(2, 10)]
    assert rates == pytest.approx([1e-3 * f for f in expected])
    assert optimizer.param_groups[0]["lr"] == 0.0  # after the last step
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]  # weights decay, the bias does not


def test_small_sets_get_the_epochs_min_steps_asks_for() -> None:
    trainer = TransformerTrainer(TrainingArguments(epochs=2, batch_size=8, min_steps=30))
    assert trainer.schedule_length(20) == (10, 30)  # 3 steps per epoch: 10 epochs reach 30 steps
    assert TransformerTrainer(TrainingArguments(epochs=2, batch_size=8)).schedule_length(20) == (2, 6)


def fake_kind_fit(monkeypatch) -> list[Any]:
    calls: list[Any] = []

    def fit(cls, train_df, val_df, args, labels, provenance=None):
        calls.append((args.model, labels))
        raise SynthgradeError("stop here")

    monkeypatch.setattr(TfidfScorer, "fit", classmethod(fit))
    return calls


def test_declared_labels_reach_the_kind(monkeypatch) -> None:
    calls = fake_kind_fit(monkeypatch)
    with pytest.raises(SynthgradeError, match="stop here"):
        Trainer(TrainingArguments(model="tfidf", labels=["yes", "no", "maybe"])).train(frame("t", 6), frame("v", 3, start=9))
    assert calls == [("tfidf", ["yes", "no", "maybe"])]


@pytest.mark.parametrize("damage", ["truncate", "remove"])
def test_a_damaged_model_file_is_one_clear_error_naming_the_directory_and_kind(tmp_path: Path, damage: str) -> None:
    args = TrainingArguments(model="tfidf", show_progress=False, labels=["no", "yes"])
    directory = Trainer(args).train(frame("t", 24), frame("v", 8, start=100)).save_pretrained(tmp_path / "m")
    weights = directory / "logistic.npz"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:40])
    else:
        weights.unlink()
    with pytest.raises(SynthgradeError, match=r"m: damaged tfidf model files \(") as caught:
        load_scorer(directory)
    assert "\n" not in str(caught.value)


def reference_items(first_item: int, items: int, per_item: int = 12, seed: int = 0) -> pd.DataFrame:
    """Items whose correct answers repeat their own reference's words and whose wrong answers use other words.

    Every item has its own words, so on items absent from training only the reference overlap can tell the labels.
    """
    rng = np.random.default_rng(seed + first_item)
    rows = []
    for item in range(first_item, first_item + items):
        reference = [f"ref{item}x{k}" for k in range(5)]
        others = [f"oth{item}x{k}" for k in range(8)]
        for n in range(per_item):
            correct = n % 2 == 0
            words = list(rng.choice(reference, 4, replace=False)) if correct else list(rng.choice(others, 4, replace=False))
            rows.append(
                {"id": f"q{item}-{n}", "text": " ".join(words), "label": "correct" if correct else "incorrect",
                 "item_id": f"q{item}", "item_text": f"Question {item}?", "reference": " ".join(reference)}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_lexical_fits_saves_and_loads_to_the_same_probabilities(tmp_path: Path) -> None:
    from synthgrade.scorers.lexical import C_GRID, LexicalScorer

    train, val = reference_items(0, 10), reference_items(10, 3)
    scorer = Trainer(TrainingArguments(model="lexical", show_progress=False)).train(train, val)
    assert isinstance(scorer, LexicalScorer) and kind_for("lexical") is LexicalScorer
    record = scorer.info.training
    assert [row["C"] for row in record["curve"]] == list(C_GRID) and record["best"]["C"] in C_GRID
    assert record["oof"]["ids"] == train["id"].tolist() and len(record["oof"]["pred"]) == len(train)
    assert record["cv_macro_f1"] is not None and scorer.oof_proba is not None and scorer.oof_proba.shape == (len(train), 2)
    again = load_scorer(scorer.save_pretrained(tmp_path / "lexical"))
    assert isinstance(again, LexicalScorer)
    np.testing.assert_allclose(again.predict_proba(val), scorer.predict_proba(val))
    assert read_json(tmp_path / "lexical" / "synthgrade.json")["kind"] == "lexical"


def test_lexical_chooses_c_on_the_training_rows_never_on_validation() -> None:
    """Flipping every validation label must change nothing: C and the weights come from training folds."""
    train, val = reference_items(0, 10), reference_items(10, 3)
    flipped = val.assign(label=val["label"].map({"correct": "incorrect", "incorrect": "correct"}))
    args = TrainingArguments(model="lexical", show_progress=False, labels=["correct", "incorrect"])
    a, b = (Trainer(args).train(train, v) for v in (val, flipped))
    assert a.info.training["best"] == b.info.training["best"]
    np.testing.assert_allclose(a.classifier.coef_, b.classifier.coef_)
    scores = [row["cv_macro_f1"] for row in a.info.training["curve"]]
    assert a.info.training["best"]["C"] == a.info.training["curve"][int(np.argmax(scores))]["C"]


def test_lexical_scores_new_items_by_their_reference_overlap() -> None:
    """Items never seen in training share no words with the training rows: only recall/precision can label them."""
    from synthgrade.scorers.lexical import overlap_features

    assert overlap_features(["a b c d"], ["a b x y z"]).tolist() == [[0.4, 0.5]]  # recall 2/5, precision 2/4
    train, val, new = reference_items(0, 20), reference_items(20, 3), reference_items(30, 10)
    scorer = Trainer(TrainingArguments(model="lexical", show_progress=False)).train(train, val)
    accuracy = float((scorer.predict(new) == new["label"]).mean())
    assert accuracy >= 0.95
    blank = new.assign(reference="unrelated words only")  # without its reference an answer looks like any other
    assert float((scorer.predict(blank) == "correct").mean()) <= 0.5


@pytest.mark.parametrize("kind", ["tfidf", "lexical"])
def test_linear_kinds_choose_c_by_cross_validation_without_validation_rows(kind: str, tmp_path: Path) -> None:
    """C comes from folds of the training rows (select and the audit fit with no validation rows at all), the
    out-of-fold probabilities cover every training row, and an empty batch scores to an empty table."""
    train = frame("t", 30)
    args = TrainingArguments(model=kind, seed=0, labels=["no", "yes"], show_progress=False)
    scorer = kind_for(kind).fit(train, train.iloc[:0], args, ["no", "yes"], {})
    training = scorer.info.training
    assert training["best"]["C"] in type(scorer).grid["C"] and len(training["curve"]) == len(type(scorer).grid["C"])
    assert scorer.oof_proba.shape == (30, 2) and np.allclose(scorer.oof_proba.sum(axis=1), 1)
    assert training["oof"]["ids"] == train["id"].tolist() and training["cv_macro_f1"] is not None
    assert scorer.predict_proba_inputs([], None).shape == (0, 2)
    again = load_scorer(scorer.save_pretrained(tmp_path / kind))
    np.testing.assert_allclose(again.predict_proba(train), scorer.predict_proba(train))
    assert again.info.kind == kind and scorer.info.kind == kind
