"""Generation against a fake OpenAI-compatible server on loopback: faults, cache, budget, kill -9 + resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers.llm_server import ERROR_TEXT, FakeChatServer

from synthgrade.data import load_responses
from synthgrade.errors import SynthgradeError
from synthgrade.generate import GenerationConfig, generate_synthetic, summary_path, write_synthetic
from synthgrade.generate.cache import CallCache

FAST_RETRY = {"base_delay": 0.01, "max_delay": 5.0, "timeout": 1.0}


def config(server: FakeChatServer, **overrides) -> GenerationConfig:
    values = {
        "backend": "openai",
        "model": "fake-model",
        "base_url": server.base_url,
        "per_label": 6,
        "per_call": 3,
        "embedder": None,
        "retry": FAST_RETRY,
        "concurrency": 3,
    }
    values.update(overrides)
    return GenerationConfig(**values)


@pytest.fixture
def civics(fixtures: Path) -> pd.DataFrame:
    return load_responses(fixtures / "civics.csv")


def test_faults_are_retried_and_never_reach_the_output(civics: pd.DataFrame, tmp_path: Path) -> None:
    script = ["429", "500", "timeout", "malformed", "truncated", "html", "400", "empty", "refusal"]
    with FakeChatServer(script=script, retry_after="1", timeout_sleep=2.5) as server:
        started = time.perf_counter()
        result = generate_synthetic(civics, config(server), cache_dir=tmp_path / "cache", show_progress=False)
        elapsed = time.perf_counter() - started
    write_synthetic(result, tmp_path / "syn.jsonl")
    output = (tmp_path / "syn.jsonl").read_text()
    assert ERROR_TEXT not in output and "Rate limit" not in output and "sorry" not in output.lower()
    assert ERROR_TEXT not in summary_path(tmp_path / "syn.jsonl").read_text()
    calls = result.summary["calls"]
    # 6 faults that a retry fixes, one 400 that fails the call, one empty and one refused completion.
    assert calls["retry_reasons"] == {"connection_error": 1, "http_429": 1, "http_500": 1, "malformed_response": 2, "timeout": 1}
    assert calls["failed"] == 1 and calls["failures"] == {"http_400": 1}
    assert calls["empty"] == 1 and calls["refused"] == 1
    assert elapsed >= 1.0  # the 429's Retry-After: 1 was honoured
    # Lost calls are made up in a top-up round, so every label still gets its rows.
    assert result.summary["kept"] == 12 and result.summary["rounds"] >= 2
    assert (result.frame.groupby("label").size() == 6).all()
    assert set(result.frame.columns) >= {
        "id", "text", "label", "item_id", "synthetic", "backend", "model", "temperature", "top_p",
        "prompt_hash", "example_ids", "call_index", "sample_index",
    }  # fmt: skip
    assert result.frame["synthetic"].all() and set(result.frame["backend"]) == {"openai"}
    human_ids = set(civics["id"])
    for ids, label in zip(result.frame["example_ids"], result.frame["label"], strict=True):
        shown = ids.split(",")
        assert shown and set(shown) <= human_ids
        assert set(civics.set_index("id").loc[shown, "label"]) == {label}  # examples of the intended label only
    assert calls["tokens"]["prompt"] > 0 and calls["cost"]["usd_this_run"] is None


def test_rerun_is_fully_cached_and_byte_identical(civics: pd.DataFrame, tmp_path: Path) -> None:
    with FakeChatServer() as server:
        cfg = config(server)
        first = generate_synthetic(civics, cfg, cache_dir=tmp_path / "cache", show_progress=False)
        calls_made = server.answered
    write_synthetic(first, tmp_path / "a.jsonl")
    # The server is gone: a rerun must be answered by the cache alone.
    second = generate_synthetic(civics, cfg, cache_dir=tmp_path / "cache", show_progress=False)
    write_synthetic(second, tmp_path / "b.jsonl")
    assert calls_made == first.summary["model_calls"] > 0
    assert second.summary["model_calls"] == 0 and second.summary["cache_hits"] == calls_made
    assert second.summary["model_loaded"] is False
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert list(first.frame["id"]) == list(second.frame["id"])
    # Different sampling parameters are different calls.
    with FakeChatServer() as server:
        generate_synthetic(civics, config(server, temperature=0.9), cache_dir=tmp_path / "cache", show_progress=False)
        assert server.answered == calls_made


def test_budget_stops_cleanly_and_a_rerun_finishes(civics: pd.DataFrame, tmp_path: Path) -> None:
    with FakeChatServer() as server:
        partial = generate_synthetic(civics, config(server, max_requests=2), cache_dir=tmp_path / "c", show_progress=False)
        assert server.answered == 2
        assert partial.summary["budget_exhausted"] and partial.summary["calls"]["skipped_budget"] == 2
        assert partial.summary["kept"] == 6 and partial.summary["short_of_target"]
        full = generate_synthetic(civics, config(server), cache_dir=tmp_path / "c", show_progress=False)
        assert server.answered == 4 and full.summary["cache_hits"] == 2 and full.summary["kept"] == 12


def test_missing_api_key_and_auth_errors(civics: pd.DataFrame, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SynthgradeError, match="OPENAI_API_KEY"):
        generate_synthetic(civics, GenerationConfig(backend="openai", model="gpt-4o", embedder=None), cache_dir=tmp_path)


def test_api_key_never_reaches_cache_or_output(civics: pd.DataFrame, tmp_path: Path, monkeypatch) -> None:
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with FakeChatServer() as server:
        result = generate_synthetic(civics, config(server), cache_dir=tmp_path / "cache", show_progress=False)
    write_synthetic(result, tmp_path / "s.parquet")
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def _cli_generate(base_url: str, out: Path, cache: Path, fixtures: Path) -> subprocess.Popen:
    args = [sys.executable, "-m", "synthgrade.cli", "generate", str(fixtures / "civics.csv"), "--out", str(out)]
    args += ["--backend", "openai", "--model", "fake-model", "--base-url", base_url, "--per-label", "12", "--per-call", "2"]
    args += ["--concurrency", "2", "--cache", str(cache), "--embedder", "none", "--no-progress"]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "OPENAI_API_KEY": ""})


def test_kill_9_and_resume_loses_nothing_and_duplicates_nothing(fixtures: Path, tmp_path: Path) -> None:
    with FakeChatServer(delay=0.15) as server:
        process = _cli_generate(server.base_url, tmp_path / "syn.jsonl", tmp_path / "cache", fixtures)
        deadline = time.time() + 120
        while server.answered < 5 and time.time() < deadline and process.poll() is None:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        answered_before = server.answered
        assert 5 <= answered_before < 12, "the run should be killed half way"
        assert not (tmp_path / "syn.jsonl").exists()  # no partial output
        cached = len(CallCache(tmp_path / "cache"))
        # Everything answered was committed, except at most the calls in flight at the kill.
        assert answered_before - 2 <= cached <= answered_before
        resumed = _cli_generate(server.base_url, tmp_path / "syn.jsonl", tmp_path / "cache", fixtures)
        _, err = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, err.decode()
        # 12 calls planned (2 labels x 12 rows / 2 per call): the rerun asks only for the missing ones.
        assert server.answered - answered_before == 12 - cached
        keys = [json.dumps(b["messages"], sort_keys=True) + str(b.get("seed")) for b in server.answered_bodies]
        assert len(set(keys)) == 12 and len(keys) - 12 == answered_before - cached <= 2  # only in-flight calls asked twice
    # The resumed output equals an uninterrupted run's output (from the same server URL: it is part of the call keys).
    with FakeChatServer(port=server.port) as server:
        fresh = _cli_generate(server.base_url, tmp_path / "fresh.jsonl", tmp_path / "cache2", fixtures)
        _, err = fresh.communicate(timeout=300)
        assert fresh.returncode == 0, err.decode()
    assert (tmp_path / "syn.jsonl").read_bytes() == (tmp_path / "fresh.jsonl").read_bytes()
    summary = json.loads(summary_path(tmp_path / "syn.jsonl").read_text())
    assert summary["cache_hits"] == cached and summary["kept"] == 24


def test_cli_errors(cli, fixtures: Path, tmp_path: Path) -> None:
    result = cli("generate", fixtures / "civics.csv", "--out", tmp_path / "x.txt")
    assert result.returncode == 2 and "--out must end in .jsonl" in result.stderr
    result = cli("generate", fixtures / "civics.csv", "--out", tmp_path / "x.jsonl", "--backend", "openai")
    assert result.returncode == 2 and "needs --model" in result.stderr
    result = cli("generate", fixtures / "civics.csv", "--out", tmp_path / "x.jsonl", "--temperature", "5")
    assert result.returncode == 2 and "--temperature" in result.stderr and "Traceback" not in result.stderr
    result = cli("generate", tmp_path / "missing.csv", "--out", tmp_path / "x.jsonl")
    assert result.returncode == 2 and "missing.csv: no such file" in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_leakage_guard_and_diagnostics_with_minilm(civics: pd.DataFrame, tmp_path: Path) -> None:
    with FakeChatServer() as server:
        first = generate_synthetic(civics, config(server, embedder="minilm-l6"), cache_dir=tmp_path / "c", show_progress=False)
        leaked = first.frame["text"].iloc[0]
        exclude = pd.DataFrame({"text": [leaked.replace("I think", "I believe") + "."]})
        second = generate_synthetic(
            civics, config(server, embedder="minilm-l6"), [exclude], cache_dir=tmp_path / "c", show_progress=False
        )
    assert second.summary["removed"]["leakage"] >= 1 and leaked not in set(second.frame["text"])
    assert second.summary["kept"] == 12  # the leaked row was replaced in a top-up round
    diagnostics = second.summary["diagnostics"]
    assert set(diagnostics["mean_pairwise_cosine"]) == {"correct", "incorrect"}
    assert 0 < diagnostics["nearest_human_similarity"]["mean"] < 1
    assert 0 < diagnostics["distinct_1"] <= 1 and diagnostics["per_label"] == {"correct": 6, "incorrect": 6}


def test_cli_generate_parquet_with_exclude(cli, fixtures: Path, tmp_path: Path) -> None:
    test_file = tmp_path / "test.csv"
    test_file.write_text("text\nsomething unrelated\n", encoding="utf-8")
    with FakeChatServer() as server:
        result = cli(
            "generate", fixtures / "civics.csv", "--out", tmp_path / "syn.parquet", "--backend", "openai", "--model", "m",
            "--base-url", server.base_url, "--per-label", "3", "--per-call", "3", "--cache", tmp_path / "c",
            "--exclude", test_file, "--embedder", "none", "--no-progress",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(tmp_path / "syn.parquet")
    assert len(frame) == 6 and frame["synthetic"].all() and "wrote" in result.stdout
    summary = json.loads((tmp_path / "syn.summary.json").read_text())
    assert summary["kept"] == 6 and summary["model_calls"] == 2 and "OPENAI_API_KEY" not in json.dumps(summary)
