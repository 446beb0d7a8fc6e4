"""Sentence embeddings (MiniLM by default) for near-duplicate removal, the leakage guard and kNN filtering.

Mean-pooled token states, L2-normalised, so a dot product is the cosine similarity. Loaded models are
kept per process: cleaning and filtering embed several tables with the same encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthgrade.registry import DEFAULT_ENCODER, offline_error, resolve_model

_MODELS: dict[str, tuple[Any, Any]] = {}


def load_encoder(model: str = DEFAULT_ENCODER) -> tuple[Any, Any]:
    """(tokenizer, model) for a registry name, local folder or hub id; cached per process."""
    if model not in _MODELS:
        from transformers import AutoModel, AutoTokenizer

        resolved = resolve_model(model)
        try:
            tokenizer = AutoTokenizer.from_pretrained(resolved.path)
            encoder = AutoModel.from_pretrained(resolved.path)
        except OSError as exc:
            raise offline_error(model, exc) from None
        encoder.eval()
        _MODELS[model] = (tokenizer, encoder)
    return _MODELS[model]


def embed_texts(texts: Sequence[str], model: str = DEFAULT_ENCODER, batch_size: int = 64, max_length: int = 128) -> np.ndarray:
    """L2-normalised mean-pooled sentence embeddings, one row per text (float32)."""
    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    import torch

    tokenizer, encoder = load_encoder(model)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch pad less
    out: np.ndarray | None = None
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            index = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in index], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            states = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled.float(), dim=-1).numpy()
            if out is None:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[index] = pooled
    assert out is not None
    return out
