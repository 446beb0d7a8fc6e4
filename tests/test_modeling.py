"""Scorer directories: inputs per mode, item bank lookups, save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthgrade.errors import SynthgradeError
from synthgrade.modeling import (
    ModelInfo,
    build_inputs,
    choose_input_mode,
    item_bank_from,
    load_scorer,
)
from synthgrade.scorers.transformer import TransformerScorer

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
    assert sorted((p.row, p.where) for p in problems) == [(0, "f.csv line 2"), (1, "f.csv line 3")]
    shown = [str(p) for p in problems]
    assert any(s.startswith("f.csv line 2: unknown item_id 'nope'") for s in shown)
    assert "f.csv line 3: empty or whitespace-only text" in shown


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


def test_similar_length_chunks_bound_padding_and_cover_every_row() -> None:
    from synthgrade.modeling import similar_length_chunks

    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 160, size=300).tolist()
    chunks = similar_length_chunks(lengths, max_rows=8, max_padding=0.1)
    assert sorted(int(i) for chunk in chunks for i in chunk) == list(range(300))  # every row exactly once
    for chunk in chunks:
        sizes = [lengths[i] for i in chunk]
        assert 1 <= len(chunk) <= 8
        assert max(sizes) * len(sizes) - sum(sizes) <= 0.1 * max(sizes) * len(sizes)  # padding within 10% of the slots
    assert len(chunks) < 300 // 2  # rows of similar length do share calls
    assert [len(c) for c in similar_length_chunks([40] * 20, max_rows=8)] == [8, 8, 4]
    assert [sorted(c.tolist()) for c in similar_length_chunks([100, 10, 11], max_rows=8)] == [[1, 2], [0]]
    assert similar_length_chunks([], max_rows=8) == []


def test_padded_arrays_pad_on_the_tokenizer_side() -> None:
    from synthgrade.modeling import padded_arrays

    encoded = {"input_ids": [[1, 2, 3], [4], [5, 6]], "attention_mask": [[1, 1, 1], [1], [1, 1]]}
    right = padded_arrays(encoded, [1, 2], ["input_ids", "attention_mask"], pad_id=9)
    assert right["input_ids"].tolist() == [[4, 9], [5, 6]] and right["attention_mask"].tolist() == [[1, 0], [1, 1]]
    left = padded_arrays(encoded, [0, 1], ["input_ids"], pad_id=0, left=True)
    assert left["input_ids"].tolist() == [[1, 2, 3], [0, 0, 4]] and left["input_ids"].dtype == np.int64
