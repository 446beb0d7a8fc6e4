"""A tiny saved transformer scorer (random weights, real code paths) that several test modules score with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthgrade.modeling import ModelInfo, item_bank_from
from synthgrade.scorers.transformer import TransformerScorer

ITEMS = pd.DataFrame(
    {
        "item_id": ["q1", "q2"],
        "item_text": ["How did you separate salt from water?", "How do you get iron out of sand?"],
        "reference": ["Evaporate the water.", "Use a magnet."],
    }
)
LABELS = ["correct", "incorrect"]


def build_tiny_scorer(tiny_encoder: Path, directory: Path, input_mode: str = "pair", seed: int = 0) -> Path:
    """A saved (untrained) classifier on the tiny random encoder: real code paths, seconds to build."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=len(LABELS))
    with torch.no_grad():  # a larger head so probabilities differ visibly between inputs
        model.classifier.weight.normal_(0, 2.0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)
    info = ModelInfo(
        kind="transformer",
        labels=LABELS,
        input_mode=input_mode,  # type: ignore[arg-type]
        item_bank=item_bank_from(ITEMS) if input_mode == "pair" else {},
        base_model="tiny-test-encoder",
        provenance={"train_human_rows": 24, "train_synthetic_rows": 96, "generator": {"api_key": "sk-SECRET-never-shown"}},
    )
    TransformerScorer(model, tokenizer, info).save_pretrained(directory)
    return directory
