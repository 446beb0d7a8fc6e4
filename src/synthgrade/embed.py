"""Sentence embeddings (MiniLM by default) for near-duplicate removal, the leakage guard, kNN filtering and
the hybrid scorer.

Mean-pooled token states, L2-normalised, so a dot product is the cosine similarity. Loaded models are
kept per process: cleaning and filtering embed several tables with the same encoder.

``static:<folder>`` names a static (model2vec) encoder: one vector per token, averaged, no transformer
layers, thousands of responses a second on a CPU. :func:`distill_static` makes one from any encoder.

A transformer encoder runs through PyTorch or through onnxruntime (:func:`encoder_backend`): its graph,
mean pooling and normalisation included, is exported once and kept in ``<cache>/onnx-encoders/<hash of the
encoder's config and weights>/`` (see :func:`onnx_encoder_file`); a cached graph onnxruntime cannot read is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from synthgrade.console import console
from synthgrade.errors import ParameterError, SynthgradeError
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
    backend = "torch" if model.startswith(STATIC_PREFIX) else resolved_backend(model)
    # torch and fp32 onnx give the same vectors (to ~1e-6) and share the memo; int8 vectors are kept apart.
    memo_name = model + INT8_MEMO_SUFFIX if backend == "onnx-int8" else model
    cache = cached_vectors(memo_name, max_length)
    found = {t: cache[t] for t in set(texts) if t in cache}  # each distinct text is embedded once
    missing = sorted(set(texts) - set(found))
    if missing:
        vectors = None
        if backend != "torch":
            try:
                vectors = _onnx_vectors(missing, model, backend == "onnx-int8", batch_size, max_length)
            except SynthgradeError as exc:
                if encoder_backend() != "auto":
                    raise
                # auto only picks the faster way; an encoder that does not export still embeds, in PyTorch
                console.print(f"[yellow]warning:[/yellow] {exc}; embedding with PyTorch", highlight=False)
                _WEIGHT_BYTES[model] = 0
        if vectors is None:
            vectors = _embed(missing, model, batch_size, max_length)
        found.update(zip(missing, vectors, strict=True))
        remember(memo_name, max_length, missing, vectors)
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
            pooled = _mean_pooled(encoder(**batch).last_hidden_state, batch["attention_mask"]).numpy()
            if out is None:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[index] = pooled
    assert out is not None
    return out


def _mean_pooled(states: Any, attention_mask: Any) -> Any:
    """L2-normalised mean of the token states over the real (unmasked) tokens (torch tensors)."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled.float(), dim=-1)


# -- onnxruntime backend -------------------------------------------------------------------------------------
#: ``torch``; ``onnx`` (the fp32 graph in onnxruntime: the same vectors to ~1e-6, faster on a CPU); ``onnx-int8``
#: (dynamic int8 weights: faster again, vectors move by ~1e-2); ``auto``: ``onnx`` for an encoder whose weights
#: reach :data:`ONNX_MIN_WEIGHT_BYTES` (a real encoder: the one-off export pays back in its first scoring run),
#: ``torch`` for a smaller one. The default stays ``torch``: benchmarks/serving/bench_predict_speed.py measured
#: fp32 onnx 1.12-1.25x faster on a quiet machine (the MiniLM models score 150-164 responses/s in PyTorch already),
#: less than the one-off export costs (25 s MiniLM, 1 min mpnet) a short run; opt in with ``auto`` or ``onnx``.
BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
DEFAULT_BACKEND = "torch"
BACKEND_VARIABLE = "SYNTHGRADE_ENCODER_BACKEND"
ONNX_MIN_WEIGHT_BYTES = 20_000_000
INT8_MEMO_SUFFIX = "#onnx-int8"
#: Bumped when the exported graph changes (inputs, pooling), so older cached graphs are not reused.
GRAPH_FORMAT = "mean-pooled-l2-v1"
#: fp32 graphs further than this from PyTorch on the check sentences are refused (the TorchScript fallback drifts).
PARITY_TOLERANCE = 1e-3
#: Rows per fp32 session call. On 2 busy cores, MiniLM / mpnet embedded 300 test responses (sorted by length) at
#: 142-169 / 27-29 a second in calls of 8-32 rows, 106-122 / 17-21 in calls of 64.
ONNX_CHUNK_ROWS = 16
_BACKEND: str | None = None
_ONNX: dict[tuple[str, bool], tuple[Any, Any, list[str]]] = {}
_WEIGHT_BYTES: dict[str, int] = {}
_CHECK_TEXTS = [
    "Yes.",
    "The water evaporates when it is heated and the salt is left behind in the dish.",
    "Because the magnet attracts the iron filings but not the sand, so you can pull them apart.",
    "it gets bigger",
]


def set_encoder_backend(backend: str | None) -> None:
    """Choose how transformer encoders run in this process (one of :data:`BACKENDS`; None: back to the
    ``$SYNTHGRADE_ENCODER_BACKEND`` / default choice)."""
    global _BACKEND
    if backend is not None and backend not in BACKENDS:
        raise ParameterError("backend", f"must be one of {', '.join(BACKENDS)}, got {backend!r}")
    _BACKEND = backend


def encoder_backend() -> str:
    """The backend setting in force: :func:`set_encoder_backend`, else ``$SYNTHGRADE_ENCODER_BACKEND``, else
    :data:`DEFAULT_BACKEND`."""
    if _BACKEND is not None:
        return _BACKEND
    value = os.environ.get(BACKEND_VARIABLE, "").strip() or DEFAULT_BACKEND
    if value not in BACKENDS:
        raise SynthgradeError(f"${BACKEND_VARIABLE}={value!r}: use one of {', '.join(BACKENDS)}")
    return value


def _weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in {".safetensors", ".bin"})


def resolved_backend(model: str) -> str:
    """``torch``, ``onnx`` or ``onnx-int8`` for ``model`` under the current setting (``auto`` decided by weight size;
    an encoder that is not a local folder, e.g. a hub id, runs in PyTorch)."""
    backend = encoder_backend()
    if backend == "torch":
        return backend
    resolved = resolve_model(model)
    if not resolved.local or not Path(resolved.path).is_dir():
        return "torch"
    if backend == "auto":
        if model not in _WEIGHT_BYTES:
            _WEIGHT_BYTES[model] = sum(p.stat().st_size for p in _weight_files(Path(resolved.path)))
        return "onnx" if _WEIGHT_BYTES[model] >= ONNX_MIN_WEIGHT_BYTES else "torch"
    return backend


def encoder_fingerprint(folder: Path) -> str:
    """SHA-256 (first 24 hex digits) of an encoder folder's config and weight files, and the graph format."""
    digest = hashlib.sha256(GRAPH_FORMAT.encode())
    for path in [folder / "config.json", *_weight_files(folder)]:
        if not path.exists():
            raise SynthgradeError(f"{folder}: encoder folder without {path.name}")
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()[:24]


def onnx_encoder_file(model: str, int8: bool = False) -> Path:
    """Where the ONNX graph of ``model`` is cached (it may not exist yet)."""
    from synthgrade.io import cache_dir

    folder = Path(resolve_model(model).path)
    return cache_dir() / "onnx-encoders" / encoder_fingerprint(folder) / ("encoder.int8.onnx" if int8 else "encoder.onnx")


def _export_encoder(model: str, target: Path) -> dict[str, Any]:
    """Export ``model`` (mean pooling and normalisation included) to the fp32 graph ``target``; check it against PyTorch."""
    import torch

    from synthgrade.io import atomic_path
    from synthgrade.onnx_graph import INPUT_NAMES, export_graph, open_session, positional_module

    tokenizer, encoder = load_encoder(model)
    sample = tokenizer(_CHECK_TEXTS[:2], padding=True, truncation=True, max_length=32, return_tensors="pt")
    names = [n for n in INPUT_NAMES if n in sample]

    def pooled(**inputs: Any) -> Any:
        return _mean_pooled(encoder(**inputs).last_hidden_state, inputs["attention_mask"])

    module = positional_module(pooled, names)
    with atomic_path(target) as tmp:
        exporter = export_graph(module, tuple(sample[n] for n in names), names, tmp, "sentence_embedding")
        check = tokenizer(_CHECK_TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
        session = open_session(tmp)
        wanted = {i.name for i in session.get_inputs()}
        got = session.run(None, {n: check[n].numpy().astype(np.int64) for n in names if n in wanted})[0]
        with torch.inference_mode():
            expected = pooled(**{n: check[n] for n in names}).numpy()
        drift = float(np.abs(got - expected).max())
        if drift > PARITY_TOLERANCE:
            raise SynthgradeError(
                f"{model}: the ONNX export ({exporter}) differs from PyTorch by {drift:.2g}; set {BACKEND_VARIABLE}=torch"
            )
    return {"exporter": exporter, "max_abs_diff": drift}


def _build_onnx_file(model: str, int8: bool) -> Path:
    from synthgrade.io import atomic_path
    from synthgrade.onnx_graph import quantize_int8

    fp32 = onnx_encoder_file(model)
    try:
        if not fp32.exists():
            console.print(f"embed: exporting {model} to ONNX once ({fp32.parent})", highlight=False)
            _export_encoder(model, fp32)
        if not int8:
            return fp32
        target = onnx_encoder_file(model, int8=True)
        with atomic_path(target) as tmp:
            quantize_int8(fp32, tmp, per_channel=True)
        return target
    except OSError as exc:
        raise SynthgradeError(f"{fp32.parent}: cannot write the ONNX encoder cache ({exc})") from None


def _onnx_session(model: str, int8: bool) -> tuple[Any, Any, list[str]]:
    """(tokenizer, session, session input names), exporting the graph when it is missing and rebuilding it once
    when onnxruntime cannot read the cached file."""
    key = (model, int8)
    if key not in _ONNX:
        from transformers import AutoTokenizer

        from synthgrade.onnx_graph import open_session

        path = onnx_encoder_file(model, int8)
        if not path.exists():
            path = _build_onnx_file(model, int8)
        try:
            session = open_session(path)
        except SynthgradeError as exc:
            console.print(f"[yellow]warning:[/yellow] {exc}; rebuilding it", highlight=False)
            path.unlink(missing_ok=True)
            if int8:
                onnx_encoder_file(model).unlink(missing_ok=True)  # the int8 graph is made from the fp32 one
            session = open_session(_build_onnx_file(model, int8))
        if model in _MODELS:
            tokenizer = _MODELS[model][0]
        else:
            try:
                tokenizer = AutoTokenizer.from_pretrained(resolve_model(model).path)
            except OSError as exc:
                raise offline_error(model, exc) from None
        _ONNX[key] = (tokenizer, session, [i.name for i in session.get_inputs()])
    return _ONNX[key]


def _onnx_vectors(texts: list[str], model: str, int8: bool, batch_size: int, max_length: int) -> np.ndarray:
    """Embeddings through onnxruntime. fp32: calls of up to :data:`ONNX_CHUNK_ROWS` texts of similar length.
    int8: one text per call, because dynamic quantization scales activations per call and a text's vector would
    otherwise depend on its batch-mates."""
    tokenizer, session, names = _onnx_session(model, int8)
    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=False)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    step = 1 if int8 else min(batch_size, ONNX_CHUNK_ROWS)
    pad_id = tokenizer.pad_token_id or 0
    out: np.ndarray | None = None
    for start in range(0, len(texts), step):
        index = order[start : start + step]
        width = max(lengths[i] for i in index)
        feed = {}
        for name in names:
            fill = pad_id if name == "input_ids" else 0
            block = np.full((len(index), width), fill, dtype=np.int64)
            for row, i in enumerate(index):
                block[row, : lengths[i]] = encoded[name][i]
            feed[name] = block
        pooled = session.run(None, feed)[0]
        if out is None:
            out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
        out[index] = pooled
    assert out is not None
    return out
