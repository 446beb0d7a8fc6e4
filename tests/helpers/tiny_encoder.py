"""A tiny random BERT encoder folder, built in seconds."""

from __future__ import annotations

from pathlib import Path


def make_tiny_encoder(directory: Path, hidden: int = 32, layers: int = 2) -> Path:
    """A randomly initialised BERT with the MiniLM tokenizer, saved as a transformers folder.

    Tests train this instead of real weights so they run in seconds and still exercise real code.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from synthgrade.models import resolve_model

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
