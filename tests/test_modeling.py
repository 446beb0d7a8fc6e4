"""Scorer directories: inputs per mode, item bank lookups, save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthgrade.errors import SynthgradeError
from synthgrade.modeling import (
    ModelInfo,
    TransformerScorer,
    build_inputs,
    choose_input_mode,
    item_bank_from,
    load_scorer,
)

FRAME = pd.DataFrame(
    {
        "id": ["a", "b", "c"],
        "text": ["It evaporates.", "I shook it.", "Use a magnet."],
        "label": ["correct", "incorrect", "correct"],
        "item_id": ["q1", "q1", "q2"],
        "item_text": ["How to separate salt?", "How to separate salt?", "Iron from sand?"],
        "reference": ["Evaporate the water.", None, "A magnet."],
    }
)


def test_item_bank_and_pair_inputs_from_bank() -> None:
    bank = item_bank_from(FRAME)
    assert bank["q1"].reference == "Evaporate the water." and bank["q2"].item_text == "Iron from sand?"
    info = ModelInfo(kind="transformer", labels=["correct", "incorrect"], input_mode="pair", item_bank=bank)
    new = pd.DataFrame({"text": ["salt stays"], "item_id": ["q1"]})
    first, second, problems = build_inputs(new, info)
    assert first == ["How to separate salt? Reference: Evaporate the water."] and second == ["salt stays"]
    assert not problems


def test_unknown_item_and_empty_text_are_reported_per_row() -> None:
    info = ModelInfo(kind="transformer", labels=["x", "y"], input_mode="pair", item_bank=item_bank_from(FRAME))
    new = pd.DataFrame({"text": ["fine", "  "], "item_id": ["nope", "q2"], "_where": ["f.csv line 2", "f.csv line 3"]})
    _, _, problems = build_inputs(new, info)
    assert problems[0].startswith("f.csv line 3: empty") or problems[0].startswith("f.csv line 2")
    assert any("unknown item_id 'nope'" in p for p in problems) and any("line 3: empty" in p for p in problems)


def test_input_mode_choice() -> None:
    assert choose_input_mode("auto", FRAME) == "pair"
    assert choose_input_mode("auto", FRAME[["text", "label"]]) == "response"
    with pytest.raises(SynthgradeError, match="needs item_text"):
        choose_input_mode("pair", FRAME[["text", "label"]])


def test_transformer_scorer_round_trip(tiny_encoder: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)
    info = ModelInfo(kind="transformer", labels=["correct", "incorrect"], input_mode="pair", item_bank=item_bank_from(FRAME))
    scorer = TransformerScorer(model, tokenizer, info)
    proba = scorer.predict_proba(FRAME)
    assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1)
    scorer.save_pretrained(tmp_path / "m")
    again = load_scorer(tmp_path / "m")
    assert isinstance(again, TransformerScorer) and again.labels == ["correct", "incorrect"]
    assert np.allclose(again.predict_proba(FRAME), proba, atol=1e-5)
    assert set(again.predict(FRAME)) <= {"correct", "incorrect"}
    assert again.info.parameters and again.info.parameters > 0


def test_load_scorer_errors(tmp_path: Path) -> None:
    with pytest.raises(SynthgradeError, match="no such model directory"):
        load_scorer(tmp_path / "missing")
    with pytest.raises(SynthgradeError, match="not a synthgrade model directory"):
        load_scorer(tmp_path)
