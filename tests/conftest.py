"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.cli import run_cli

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "semeval2013-scientsbank"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def scientsbank() -> Path:
    if not SHARED_DATA.exists():
        # CI always has ../shared beside the checkout: there a missing data set is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"shared data set not found at {SHARED_DATA}")
        pytest.skip(f"shared data set not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def cli():
    return run_cli


def make_tiny_encoder(directory: Path, hidden: int = 32, layers: int = 2) -> Path:
    """A randomly initialised BERT with the MiniLM tokenizer, saved as a transformers folder.

    Tests train this instead of real weights so they run in seconds and still exercise real code.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from synthgrade.registry import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm-l6").path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """Path of a tiny random BERT encoder folder (usable wherever a model name or path is accepted)."""
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))
