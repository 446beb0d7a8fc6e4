"""Backend resolution: ``auto`` runs llama.cpp where llama-cpp-python is installed, transformers elsewhere."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synthgrade.data import load_responses
from synthgrade.errors import SynthgradeError
from synthgrade.generate import GenerationConfig, generate_synthetic
from synthgrade.generate.backends import BACKENDS, Backend, ChatRequest, completion, is_gguf_model, make_backend, resolve_backend

# resolve_backend reads llamacpp_available from the factory module: the tests patch it there.
from synthgrade.generate.backends import factory as backend_factory


class FakeEngine(Backend):
    """An in-process engine that answers without a model and remembers which name it was built as."""

    in_process = True
    continues_text = True
    built: list[str] = []

    def __init__(self, model: str, name: str) -> None:
        super().__init__(model)
        self.name = name
        FakeEngine.built.append(name)

    def complete_batch(self, requests: list[ChatRequest]) -> list[dict]:
        self.loaded = True
        return [completion(f"1. {self.name} answer {r.seed % 997} on prices\n2. {self.name} reply {r.seed % 991}", "stop", 9, 9)
                for r in requests]  # fmt: skip


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeEngine.built = []
    for name in ("local", "llamacpp"):
        factory = (lambda n: lambda model, base_url, batch_size, timeout, batch: FakeEngine(model, n))(name)
        monkeypatch.setitem(BACKENDS, name, (factory, False))


def test_auto_picks_llamacpp_for_a_gguf_model_only_when_it_is_importable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(backend_factory, "llamacpp_available", lambda: True)
    assert resolve_backend("auto", "smollm2-135m") == "llamacpp"
    assert resolve_backend("auto", "qwen2.5-coder-0.5b") == "llamacpp"  # registered GGUF: nothing assembled to decide
    assert resolve_backend("auto", "bert-base-uncased") == "local"  # a transformers model llama.cpp cannot load
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert is_gguf_model(str(tmp_path / "m.gguf")) and is_gguf_model(str(tmp_path))
    assert resolve_backend("auto", str(tmp_path)) == "llamacpp"
    assert not is_gguf_model(str(tmp_path / "missing-folder"))
    monkeypatch.setattr(backend_factory, "llamacpp_available", lambda: False)
    assert resolve_backend("auto", "smollm2-135m") == "local"
    for name in ("local", "llamacpp", "openai", "openai-batch"):
        assert resolve_backend(name, "smollm2-135m") == name  # an explicit choice is never second-guessed
    with pytest.raises(SynthgradeError, match="applies to the openai backends only, not 'auto'"):
        make_backend("auto", "smollm2-135m", base_url="http://127.0.0.1:9/v1")


def test_llamacpp_available_tracks_the_installed_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    assert not backend_factory.llamacpp_available() and resolve_backend("auto", "smollm2-135m") == "local"


@pytest.mark.parametrize("installed, engine", [(True, "llamacpp"), (False, "local")])
def test_generation_records_the_engine_auto_chose(
    engines: None, monkeypatch: pytest.MonkeyPatch, fixtures: Path, tmp_path: Path, installed: bool, engine: str
) -> None:
    monkeypatch.setattr(backend_factory, "llamacpp_available", lambda: installed)
    train: pd.DataFrame = load_responses(fixtures / "civics.csv")
    config = GenerationConfig(model="smollm2-135m", per_label=2, per_call=2, embedder=None, max_rounds=1)
    assert config.backend == "auto"  # the default
    result = generate_synthetic(train, config, cache_dir=tmp_path, show_progress=False)
    assert FakeEngine.built == [engine] and len(result.frame) == 4
    assert set(result.frame["backend"]) == {engine} and result.frame["text"].str.startswith(engine).all()
    assert result.summary["backend"] == engine and result.summary["config"]["backend"] == engine
    # The cache is keyed by the engine: the other engine's calls are not reused as if they were the same text.
    rerun = generate_synthetic(train, config.model_copy(update={"backend": engine}), cache_dir=tmp_path, show_progress=False)
    assert rerun.summary["cache_hits"] == 2 and rerun.summary["model_calls"] == 0
    other = "local" if engine == "llamacpp" else "llamacpp"
    fresh = generate_synthetic(train, config.model_copy(update={"backend": other}), cache_dir=tmp_path, show_progress=False)
    assert fresh.summary["cache_hits"] == 0 and fresh.summary["model_calls"] == 2
