"""The onnxruntime backend of the sentence encoder: same vectors as PyTorch, exported once into the cache,
rebuilt when the cached graph is unreadable, and a one-line error when it cannot be written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from synthgrade import embed
from synthgrade.errors import ParameterError, SynthgradeError

TEXTS = [
    "Yes.",
    "The water evaporates when it is heated and the salt is left behind.",
    "it gets bigger",
    "Because the magnet attracts the iron filings but not the sand, so you can pull them apart from each other.",
    "Yes.",  # repeated: embedded once, returned twice
]


def forget() -> None:
    embed.set_encoder_backend(None)
    embed._VECTORS.clear()
    embed._ONNX.clear()
    embed._WEIGHT_BYTES.clear()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_encoder: Path) -> Path:
    """A cache folder holding the tiny encoder's fp32 graph, exported once for this module (exports take seconds)."""
    cache = tmp_path_factory.mktemp("exported") / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYNTHGRADE_CACHE", str(cache))
        forget()
        vectors(tiny_encoder, "onnx")
        forget()
    return cache


@pytest.fixture
def fresh(monkeypatch, tmp_path: Path):
    """A private, empty cache folder, no memo of vectors or sessions, and the backend setting restored afterwards."""
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(embed.BACKEND_VARIABLE, raising=False)
    forget()
    yield tmp_path / "cache"
    forget()


@pytest.fixture
def warm(fresh: Path, exported: Path) -> Path:
    """``fresh``, holding a copy of the exported graph."""
    shutil.copytree(exported, fresh)
    return fresh


def vectors(model: str, backend: str, texts: list[str] = TEXTS) -> np.ndarray:
    embed.set_encoder_backend(backend)
    with embed.no_cache():
        return embed.embed_texts(texts, model=str(model))


def test_onnx_vectors_match_torch_and_the_graph_is_cached_by_the_encoder_files(warm: Path, tiny_encoder: Path):
    expected = vectors(tiny_encoder, "torch")
    got = vectors(tiny_encoder, "onnx")
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cached = embed.onnx_encoder_file(str(tiny_encoder))
    assert cached.exists() and cached.parent.parent == warm / "onnx-encoders"
    assert cached.parent.name == embed.encoder_fingerprint(tiny_encoder)
    # A later process reuses the file: nothing is exported again.
    embed._ONNX.clear()
    stamp = cached.stat().st_mtime_ns
    np.testing.assert_allclose(vectors(tiny_encoder, "onnx"), expected, atol=1e-5)
    assert cached.stat().st_mtime_ns == stamp


def test_the_cache_key_follows_the_weights(tmp_path: Path, tiny_encoder: Path):
    from helpers.tiny_encoder import make_tiny_encoder

    other = make_tiny_encoder(tmp_path / "three-layers", layers=3)
    assert embed.encoder_fingerprint(other) != embed.encoder_fingerprint(tiny_encoder)
    assert embed.encoder_fingerprint(tiny_encoder) == embed.encoder_fingerprint(tiny_encoder)


def test_int8_vectors_do_not_depend_on_their_neighbours(warm: Path, tiny_encoder: Path):
    alone = vectors(tiny_encoder, "onnx-int8", [TEXTS[1]])
    beside = vectors(tiny_encoder, "onnx-int8", TEXTS)
    np.testing.assert_array_equal(alone[0], beside[1])
    assert embed.onnx_encoder_file(str(tiny_encoder), int8=True).exists()
    # int8 vectors are memoised apart from the fp32 / torch ones
    embed.set_encoder_backend("onnx-int8")
    embed.embed_texts(TEXTS[:1], model=str(tiny_encoder))
    assert TEXTS[0] in embed.cached_vectors(str(tiny_encoder) + embed.INT8_MEMO_SUFFIX, 128)
    assert TEXTS[0] not in embed.cached_vectors(str(tiny_encoder), 128)


def test_a_corrupt_cached_graph_is_rebuilt(warm: Path, tiny_encoder: Path, capsys):
    expected = vectors(tiny_encoder, "torch")
    cached = embed.onnx_encoder_file(str(tiny_encoder))
    cached.write_bytes(b"not an onnx graph")
    embed._ONNX.clear()
    np.testing.assert_allclose(vectors(tiny_encoder, "onnx"), expected, atol=1e-5)
    assert cached.stat().st_size > 1000
    warning = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "cannot load ONNX model" in warning and "rebuilding it" in warning


def test_an_unwritable_cache_is_one_clear_line_and_auto_falls_back_to_torch(fresh: Path, tiny_encoder: Path, monkeypatch):
    blocker = fresh.parent / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(blocker / "cache"))  # a folder cannot be made inside a file
    with pytest.raises(SynthgradeError) as caught:
        vectors(tiny_encoder, "onnx")
    message = str(caught.value)
    assert "\n" not in message and "cannot write the ONNX encoder cache" in message and str(blocker) in message
    # auto only chooses the faster way: an encoder that cannot be exported still embeds, in PyTorch
    monkeypatch.setattr(embed, "ONNX_MIN_WEIGHT_BYTES", 0)
    np.testing.assert_allclose(vectors(tiny_encoder, "auto"), vectors(tiny_encoder, "torch"), atol=1e-6)


def test_backend_settings(fresh: Path, tiny_encoder: Path, monkeypatch):
    assert embed.encoder_backend() == "torch"  # the default until a quiet-machine benchmark says otherwise
    monkeypatch.setenv(embed.BACKEND_VARIABLE, "auto")
    assert embed.resolved_backend(str(tiny_encoder)) == "torch"  # auto: a tiny encoder is not worth exporting
    monkeypatch.setattr(embed, "ONNX_MIN_WEIGHT_BYTES", 1)
    embed._WEIGHT_BYTES.clear()
    assert embed.resolved_backend(str(tiny_encoder)) == "onnx"
    monkeypatch.setenv(embed.BACKEND_VARIABLE, "onnx-int8")
    assert embed.resolved_backend(str(tiny_encoder)) == "onnx-int8"
    embed.set_encoder_backend("torch")  # the library setting wins over the environment
    assert embed.resolved_backend(str(tiny_encoder)) == "torch"
    embed.set_encoder_backend(None)
    monkeypatch.setenv(embed.BACKEND_VARIABLE, "gpu")
    with pytest.raises(SynthgradeError, match=r"\$SYNTHGRADE_ENCODER_BACKEND='gpu': use one of auto, torch, onnx"):
        embed.encoder_backend()
    with pytest.raises(ParameterError, match="backend must be one of"):
        embed.set_encoder_backend("fast")
