"""Real models: the embedded SmolLM2 through transformers, and llama-cpp-python (server and in-process).

These load real weights (SmolLM2 ~30 s), so they are few, small and marked slow.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from synthgrade.data import load_responses
from synthgrade.generate import GenerationConfig, generate_synthetic, write_synthetic
from synthgrade.generate.backends import TransformersBackend
from synthgrade.models import resolve_model


def require_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        if os.environ.get("CI"):
            pytest.fail("llama_cpp is not importable; `make test` installs llama-cpp-python[server]")
        pytest.skip("llama_cpp is not importable (install llama-cpp-python[server], as `make test-setup` does)")


def small_config(**overrides) -> GenerationConfig:
    values = {"per_label": 2, "per_call": 2, "max_tokens": 48, "max_rounds": 1, "embedder": None, "temperature": 0.3}
    values.update(overrides)
    return GenerationConfig(**values)


@pytest.fixture
def civics(fixtures: Path) -> pd.DataFrame:
    return load_responses(fixtures / "civics.csv")


@pytest.mark.slow
def test_local_backend_generates_then_reruns_from_cache_without_loading(
    civics: pd.DataFrame, tmp_path: Path, monkeypatch, cli, fixtures: Path
) -> None:
    config = small_config(backend="local", model="smollm2-135m", batch_size=4)
    first = generate_synthetic(civics, config, cache_dir=tmp_path / "cache", show_progress=False)
    write_synthetic(first, tmp_path / "a.jsonl")
    calls = first.summary["calls"]
    assert first.summary["model_loaded"] and first.summary["model_calls"] == 2 and calls["failed"] == 0
    assert 0 < calls["tokens"]["completion"] <= 2 * 48 and calls["tokens"]["prompt"] > 0
    assert first.summary["generated"] >= 1
    assert set(first.frame["backend"]) <= {"local"} and first.frame["synthetic"].all()

    def no_loading(self) -> None:
        raise AssertionError("a fully cached run must not load the model")

    monkeypatch.setattr(TransformersBackend, "load", no_loading)
    second = generate_synthetic(civics, config, cache_dir=tmp_path / "cache", show_progress=False)
    write_synthetic(second, tmp_path / "b.jsonl")
    assert second.summary["model_calls"] == 0 and second.summary["cache_hits"] == 2 and not second.summary["model_loaded"]
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    # The same through the CLI: zero model calls, no model loaded, the same bytes.
    result = cli(
        "generate", fixtures / "civics.csv", "--out", tmp_path / "c.jsonl", "--backend", "local", "--model", "smollm2-135m",
        "--per-label", "2", "--per-call", "2",
        "--max-tokens", "48", "--max-rounds", "1", "--embedder", "none", "--batch-size", "4", "--cache", tmp_path / "cache",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "c.summary.json").read_text())
    assert summary["model_calls"] == 0 and summary["model_loaded"] is False and summary["cache_hits"] == 2
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_against_llama_cpp_openai_compatible_server(civics: pd.DataFrame, tmp_path: Path) -> None:
    require_llama_cpp()
    port = _free_port()
    gguf = resolve_model("smollm2-135m").gguf_path
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed in the finally below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            gguf,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,  # a pipe nobody reads would fill up and stall the server
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {(tmp_path / 'server.log').read_text(errors='replace')[-500:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail("llama_cpp.server did not start within 180 s")
            time.sleep(0.5)
        config = small_config(backend="openai", model="smollm2-135m", base_url=base_url, concurrency=2)
        result = generate_synthetic(civics, config, cache_dir=tmp_path / "cache", show_progress=False)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    calls = result.summary["calls"]
    assert result.summary["model_calls"] == 2 and calls["completed"] == 2 and calls["failed"] == 0
    assert calls["tokens"]["completion"] > 0 and result.summary["generated"] >= 1
    assert set(result.frame["backend"]) <= {"openai"} and set(result.frame["label"]) <= {"correct", "incorrect"}


@pytest.mark.slow
def test_llamacpp_in_process_backend(civics: pd.DataFrame, tmp_path: Path) -> None:
    require_llama_cpp()
    result = generate_synthetic(civics, small_config(backend="llamacpp"), cache_dir=tmp_path / "cache", show_progress=False)
    assert result.summary["model_calls"] == 2 and result.summary["calls"]["failed"] == 0
    assert result.summary["calls"]["tokens"]["completion"] > 0
    again = generate_synthetic(civics, small_config(backend="llamacpp"), cache_dir=tmp_path / "cache", show_progress=False)
    assert again.summary["model_calls"] == 0 and not again.summary["model_loaded"]
    assert again.frame.equals(result.frame)
