"""Sentence embeddings (MiniLM by default) for near-duplicate removal, the leakage guard, kNN filtering and
the hybrid scorer.

Mean-pooled token states, L2-normalised, so a dot product is the cosine similarity. Loaded models are
kept per process: cleaning and filtering embed several tables with the same encoder.

``static:<folder>`` names a static (model2vec) encoder: one vector per token, averaged, no transformer
layers, thousands of responses a second on a CPU. :func:`distill_static` makes one from any encoder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from synthgrade.models import DEFAULT_ENCODER, offline_error, resolve_model

_MODELS: dict[str, tuple[Any, Any]] = {}
#: (model, max_length) -> text -> vector: training, validation and scoring embed the same texts again.
_VECTORS: dict[tuple[str, int], dict[str, np.ndarray]] = {}
CACHE_LIMIT = 200_000
_PAUSED = False


@contextmanager
def no_cache() -> Iterator[None]:
    """Embed everything afresh inside the block (speed measurements must not time dictionary look-ups)."""
    global _PAUSED
    saved, paused = dict(_VECTORS), _PAUSED
    _VECTORS.clear()
    _PAUSED = True
    try:
        yield
    finally:
        _PAUSED = paused
        _VECTORS.clear()
        _VECTORS.update(saved)


def remember(model: str, max_length: int, texts: Sequence[str], vectors: np.ndarray) -> None:
    """Add known embeddings to the per-process cache (benchmarks preload vectors they computed before)."""
    if _PAUSED:
        return
    cache = _VECTORS.setdefault((model, max_length), {})
    if len(cache) + len(texts) > CACHE_LIMIT:
        cache.clear()
    cache.update(zip(texts, vectors, strict=True))


def cached_vectors(model: str, max_length: int) -> dict[str, np.ndarray]:
    return _VECTORS.get((model, max_length), {})


STATIC_PREFIX = "static:"
_STATIC: dict[str, Any] = {}


def distill_static(encoder: str, out: Path, dims: int = 256) -> Path:
    """Distil ``encoder`` into a static model2vec encoder in ``out`` (each vocabulary token through the encoder once)."""
    import tempfile

    from synthgrade.errors import SynthgradeError

    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise SynthgradeError(
            f"static students need model2vec with its distill extra ({exc}); run `pip install 'model2vec[distill]'`"
        ) from None
    resolved = resolve_model(encoder)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        from transformers import AutoConfig

        hidden = int(getattr(AutoConfig.from_pretrained(resolved.path), "hidden_size", dims))
        static = distill(model_name=resolved.path, pca_dims=min(dims, hidden))
        static.save_pretrained(str(staging / "model"))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging / "model", out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _static_vectors(folder: str, texts: list[str]) -> np.ndarray:
    if folder not in _STATIC:
        from model2vec import StaticModel

        from synthgrade.errors import SynthgradeError

        try:
            _STATIC[folder] = StaticModel.from_pretrained(folder)
        except (OSError, ValueError) as exc:
            raise SynthgradeError(f"{folder}: cannot load the static encoder ({exc})") from None
    vectors = np.asarray(_STATIC[folder].encode(texts), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-9)


def encoder_parameters(model: str) -> int:
    """Parameters of an encoder as used for embedding (a static encoder: its token table)."""
    if model.startswith(STATIC_PREFIX):
        _static_vectors(model[len(STATIC_PREFIX) :], ["x"])
        return int(np.asarray(_STATIC[model[len(STATIC_PREFIX) :]].embedding).size)
    return int(sum(p.numel() for p in load_encoder(model)[1].parameters()))


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
    cache = cached_vectors(model, max_length)
    found = {t: cache[t] for t in set(texts) if t in cache}
    missing = sorted(set(texts) - set(found))
    if missing:
        vectors = _embed(missing, model, batch_size, max_length)
        found.update(zip(missing, vectors, strict=True))
        remember(model, max_length, missing, vectors)
    return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)


def _embed(texts: list[str], model: str, batch_size: int, max_length: int) -> np.ndarray:
    if model.startswith(STATIC_PREFIX):
        return _static_vectors(model[len(STATIC_PREFIX) :], texts)
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
