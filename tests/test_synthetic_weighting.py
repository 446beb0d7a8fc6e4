"""Synthetic rows in training: sample weights, source groups, and no leakage from a rewrite to its source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.training_rows import args, rows

from synthgrade.errors import SynthgradeError
from synthgrade.mix import training_rows
from synthgrade.scorers.cv import splits as cv_splits
from synthgrade.scorers.hybrid import HybridFeatures
from synthgrade.train import Trainer


def copies_of(human: pd.DataFrame, flip: bool = False) -> pd.DataFrame:
    """Synthetic rows that repeat each human text word for word, rewritten from it (``source_id``)."""
    out = human.copy()
    out["source_id"] = out["id"]
    out["id"] = "syn-" + out["id"]
    out["synthetic"] = True
    if flip:
        out["label"] = out["label"].map({"correct": "incorrect", "incorrect": "correct"})
    return out


def test_training_rows_weights_and_source_groups():
    human = rows("h", 4)
    mixed = pd.concat([human, copies_of(human.iloc[:2])], ignore_index=True)
    info = training_rows(mixed, synthetic_weight=0.25)
    assert info.weight.tolist() == [1, 1, 1, 1, 0.25, 0.25]
    assert info.source == ["h0", "h1", "h2", "h3", "h0", "h1"]  # a rewrite shares its source's group
    assert info.human.tolist() == [True] * 4 + [False] * 2 and info.has_synthetic
    assert not training_rows(human).has_synthetic
    with pytest.raises(SynthgradeError, match="^synthetic_weight must be positive"):
        training_rows(mixed, synthetic_weight=0)


def test_folds_keep_source_groups_together_and_score_human_rows_only():
    human = rows("h", 30)
    mixed = pd.concat([human, copies_of(human)], ignore_index=True)
    info = training_rows(mixed)
    y = (mixed["label"] == "incorrect").astype(int).to_numpy()
    splits = cv_splits(y, seed=0, rows=info)
    assert len(splits) >= 2
    for train_index, test_index in splits:
        assert info.human[test_index].all()  # synthetic rows never score a fold
        held_out = {info.source[i] for i in test_index}
        assert not held_out & {info.source[i] for i in train_index}  # the copy of a held-out row is held out too


def test_neighbour_features_do_not_find_a_rows_own_rewrite(tiny_encoder: Path):
    human = rows("h", 24)
    mixed = pd.concat([human, copies_of(human)], ignore_index=True)
    info = training_rows(mixed)
    contexts = ["How do you separate salt from water? Reference: The water evaporates, leaving the salt."] * len(mixed)
    y = (mixed["label"] == "incorrect").astype(int).to_numpy()
    features = HybridFeatures(str(tiny_encoder), pair=True, labels=2, max_length=32)
    features.fit(contexts, mixed["text"].tolist(), y, rows=info)
    neighbours = features.blocks(contexts, mixed["text"].tolist(), training=True)["neighbours"]
    own_label_max = neighbours[np.arange(len(y)), 3 * y]
    # Each text appears exactly twice (row and its copy); leaving the source group out, none finds its twin.
    assert (own_label_max < 0.9999).all()
    # Without the source groups the twins would be found: the check above is not vacuous.
    plain = HybridFeatures(str(tiny_encoder), pair=True, labels=2, max_length=32)
    plain.fit(contexts, mixed["text"].tolist(), y)
    leaky = plain.blocks(contexts, mixed["text"].tolist(), training=True)["neighbours"][np.arange(len(y)), 3 * y]
    assert (leaky > 0.9999).all()


def test_synthetic_weight_changes_a_hybrid_only_when_there_are_synthetic_rows(tiny_encoder: Path):
    human = rows("t", 40)
    val = rows("v", 12, start=500)
    wrong = copies_of(human, flip=True)  # label noise: every synthetic row contradicts its source
    mixed = pd.concat([human, wrong], ignore_index=True)
    spec = f"hybrid:{tiny_encoder}"
    plain = Trainer(args(spec)).train(human, val).predict_proba(val)
    weighted_human_only = Trainer(args(spec, synthetic_weight=0.1)).train(human, val).predict_proba(val)
    assert np.allclose(plain, weighted_human_only)  # human-only training is untouched by the weight
    full = Trainer(args(spec, synthetic_weight=1.0)).train(mixed, val)
    light = Trainer(args(spec, synthetic_weight=0.05)).train(mixed, val)
    y = (val["label"] == "incorrect").astype(int).to_numpy()

    def truth_probability(scorer) -> float:
        proba = scorer.predict_proba(val)
        return float(proba[np.arange(len(y)), y].mean())

    # Down-weighting contradicting rows must bring the model back towards the human labels.
    assert truth_probability(light) > truth_probability(full)


def test_tfidf_uses_sample_weights_and_cross_validates_on_human_rows():
    human = rows("t", 40)
    val = rows("v", 12, start=500)
    mixed = pd.concat([human, copies_of(human, flip=True)], ignore_index=True)
    y = (val["label"] == "incorrect").astype(int).to_numpy()
    full = Trainer(args("tfidf", synthetic_weight=1.0)).train(mixed, val).predict_proba(val)
    light = Trainer(args("tfidf", synthetic_weight=0.05)).train(mixed, val).predict_proba(val)
    assert light[np.arange(len(y)), y].mean() > full[np.arange(len(y)), y].mean()


def test_fine_tuning_loss_weights_synthetic_rows():
    import torch

    from synthgrade.scorers.transformer import TransformerTrainer
    from synthgrade.scorers.transformer.data import EncodedSet

    trainer = TransformerTrainer(args("minilm-l6"))
    encoded = EncodedSet.__new__(EncodedSet)
    encoded.labels = np.array([0, 1, 0])
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    index = np.arange(3)
    plain = float(trainer.compute_loss(logits, index, encoded, None))
    trainer.sample_weights = np.array([1.0, 1.0, 0.0])  # the third (badly scored) row synthetic, weight 0
    weighted = float(trainer.compute_loss(logits, index, encoded, None))
    each = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 0]), reduction="none")
    assert plain == pytest.approx(float(each.mean()), rel=1e-6)
    assert weighted == pytest.approx(float(each[:2].mean()), rel=1e-6)
