"""The openai-batch backend against the fake server's Batch API: success, partial failure, expiry, failure, resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers.llm_server import ERROR_TEXT, FakeChatServer

from synthgrade.data import load_responses
from synthgrade.errors import SynthgradeError
from synthgrade.generate import GenerationConfig, generate_synthetic
from synthgrade.generate.batch import OpenAIBatchBackend, parse_output_line
from synthgrade.generate.call_stats import CallStats

FAST_BATCH = {"poll_interval": 0.02}


def batch_config(server: FakeChatServer, backend: str = "openai-batch", **overrides) -> GenerationConfig:
    values = {
        "backend": backend,
        "model": "fake-model",
        "base_url": server.base_url,
        "per_label": 6,
        "per_call": 3,
        "embedder": None,
        "retry": {"base_delay": 0.01, "timeout": 2.0},
        "batch": FAST_BATCH,
    }
    values.update(overrides)
    return GenerationConfig(**values)


@pytest.fixture
def civics(fixtures: Path) -> pd.DataFrame:
    return load_responses(fixtures / "civics.csv")


def _sent_lines(server: FakeChatServer) -> list[dict]:
    inputs = [b["object"]["input_file_id"] for b in server.batches.values()]
    return [json.loads(line) for file_id in inputs for line in server.files[file_id].decode().splitlines()]


def test_openai_batch_gives_the_rows_live_calls_give(civics: pd.DataFrame, tmp_path: Path) -> None:
    with FakeChatServer() as server:
        live = generate_synthetic(civics, batch_config(server, "openai"), cache_dir=tmp_path / "live", show_progress=False)
        live_calls = server.answered
        batched = generate_synthetic(civics, batch_config(server), cache_dir=tmp_path / "batch", show_progress=False)
        assert server.answered == live_calls  # nothing went through the live endpoint
        assert len(server.batches) == 1 and server.batch_lines_answered == live_calls
        [line, *_] = _sent_lines(server)
    assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
    assert set(line["body"]) == {"model", "messages", "temperature", "top_p", "max_tokens", "seed"}
    assert list(batched.frame["text"]) == list(live.frame["text"]) and batched.summary["kept"] == 12
    calls = batched.summary["calls"]
    assert calls["completed"] == live_calls and calls["failed"] == 0
    [job] = calls["batch"]["jobs"]
    assert job["status"] == "completed" and job["answered"] == job["requests"] == live_calls
    assert (tmp_path / "batch" / "batches").is_dir()  # the request JSONL that was uploaded is kept for audits
    # A rerun is answered by the cache: no new batch (the server at the same URL: it is part of the call keys).
    with FakeChatServer(port=server.port) as server:
        again = generate_synthetic(civics, batch_config(server), cache_dir=tmp_path / "batch", show_progress=False)
        assert not server.batches
    assert list(again.frame["text"]) == list(batched.frame["text"])


def test_openai_batch_partial_failure_goes_to_a_follow_up_batch(civics: pd.DataFrame, tmp_path: Path) -> None:
    with FakeChatServer(batch_script=["partial"]) as server:
        result = generate_synthetic(civics, batch_config(server), cache_dir=tmp_path / "c", show_progress=False)
        assert len(server.batches) == 2 and server.answered == 0
        lines = _sent_lines(server)
    calls = result.summary["calls"]
    first, follow_up = calls["batch"]["jobs"]
    assert first["status"] == "completed" and first["missed"] == 1 and first["answered"] == first["requests"] - 1
    assert follow_up["requests"] == follow_up["answered"] == 1  # only the missed request was paid for again
    assert lines[-1]["custom_id"] == lines[1]["custom_id"]  # the second line got the 500
    assert calls["retry_reasons"] == {"http_500": 1} and calls["failed"] == 0
    assert ERROR_TEXT not in "".join(result.frame["text"]) and result.summary["kept"] == 12


def test_openai_batch_rejected_lines_are_failed_not_resent(civics: pd.DataFrame, tmp_path: Path) -> None:
    with FakeChatServer(batch_script=["rejected"]) as server:
        result = generate_synthetic(civics, batch_config(server), cache_dir=tmp_path / "c", show_progress=False)
        lines = _sent_lines(server)
    calls = result.summary["calls"]
    assert calls["failed"] == 1 and calls["failures"] == {"http_400": 1} and not calls["retry_reasons"]
    assert len({line["custom_id"] for line in lines}) == len(lines)  # a 400 is not paid for twice
    # Generation's top-up round asks for new calls instead, so every label still gets its rows.
    assert len(calls["batch"]["jobs"]) == 2 and result.summary["rounds"] == 2
    assert (result.frame.groupby("label").size() == 6).all()


def test_openai_batch_expiry_falls_back_to_live_calls(civics: pd.DataFrame, tmp_path: Path) -> None:
    config = batch_config(server := FakeChatServer(batch_script=["expire"]), batch={**FAST_BATCH, "fallback": "live"})
    with server:
        result = generate_synthetic(civics, config, cache_dir=tmp_path / "c", show_progress=False)
        expired = server.batches[next(iter(server.batches))]["object"]
        assert expired["status"] == "expired"
        missed = expired["request_counts"]["failed"]
        assert missed > 0 and server.answered == missed  # exactly the expired requests went live
    calls = result.summary["calls"]
    assert calls["batch"]["live_fallback_calls"] == missed and calls["failed"] == 0
    assert calls["batch"]["jobs"][0]["status"] == "expired"
    assert result.summary["kept"] == 12


def test_openai_batch_failed_batch_is_reported_and_counted(civics: pd.DataFrame, tmp_path: Path, capsys) -> None:
    config = batch_config(server := FakeChatServer(batch_script=["fail"]), batch={**FAST_BATCH, "fallback": "none"}, max_rounds=1)
    with server:
        result = generate_synthetic(civics, config, cache_dir=tmp_path / "c", show_progress=False)
    calls = result.summary["calls"]
    [job] = calls["batch"]["jobs"]
    assert job["status"] == "failed" and "not supported in the Batch API" in job["errors"][0]
    assert calls["failed"] == job["requests"] and calls["failures"] == {"batch_failed": job["requests"]}
    assert result.summary["kept"] == 0
    # With follow-up batches (the default) the failed batch is submitted again and the run completes.
    with FakeChatServer(batch_script=["fail"]) as server:
        retried = generate_synthetic(civics, batch_config(server), cache_dir=tmp_path / "d", show_progress=False)
        assert len(server.batches) == 2
    assert retried.summary["kept"] == 12 and retried.summary["calls"]["retry_reasons"] == {"batch_failed": job["requests"]}


def test_openai_batch_stops_waiting_and_resumes_the_same_batch(civics: pd.DataFrame, tmp_path: Path) -> None:
    with FakeChatServer() as server:
        server.hold_batches = True
        waiting = batch_config(server, batch={**FAST_BATCH, "max_wait": 0.3})
        with pytest.raises(SynthgradeError, match=r"batch batch_\w+ is still in_progress .* rerun the same command to resume it"):
            generate_synthetic(civics, waiting, cache_dir=tmp_path / "c", show_progress=False)
        assert len(server.batches) == 1
        server.hold_batches = False
        result = generate_synthetic(civics, batch_config(server), cache_dir=tmp_path / "c", show_progress=False)
        assert len(server.batches) == 1 and len(server.files) == 2  # the input file and one output file
    assert result.summary["kept"] == 12
    with sqlite3.connect(tmp_path / "c" / "calls.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM batch_requests").fetchone()[0] == 0  # settled batches are forgotten


def test_openai_batch_killed_while_waiting_resumes_without_paying_twice(fixtures: Path, tmp_path: Path) -> None:
    secret = "sk-test-SECRET-batch-0123456789"
    args = [sys.executable, "-m", "synthgrade.cli", "generate", str(fixtures / "civics.csv"), "--out", str(tmp_path / "s.jsonl")]
    args += ["--backend", "openai-batch", "--model", "fake-model", "--per-label", "6", "--per-call", "3", "--batch-poll", "0.05"]
    args += ["--cache", str(tmp_path / "cache"), "--embedder", "none", "--no-progress"]
    env = {**os.environ, "OPENAI_API_KEY": secret}
    with FakeChatServer() as server:
        server.hold_batches = True
        process = subprocess.Popen(
            [*args, "--base-url", server.base_url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        deadline = time.time() + 120
        while not any(b["polls"] >= 3 for b in server.batches.values()) and time.time() < deadline and process.poll() is None:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert len(server.batches) == 1 and not (tmp_path / "s.jsonl").exists()
        server.hold_batches = False
        rerun = subprocess.run([*args, "--base-url", server.base_url], capture_output=True, text=True, env=env, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        assert len(server.batches) == 1 and server.answered == 0  # resumed, not resubmitted, no live calls
        [batch_id] = server.batches
    assert f"resuming batch {batch_id}" in rerun.stdout + rerun.stderr
    assert len(pd.read_json(tmp_path / "s.jsonl", lines=True)) == 12
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_openai_batch_llm_filter(tmp_path: Path, fixtures: Path) -> None:
    from helpers.filtering import SYNTHETIC, fast

    from synthgrade.filter import filter_synthetic

    human = load_responses(fixtures / "civics.csv")
    with FakeChatServer() as server:
        live = filter_synthetic(SYNTHETIC, fast(server, votes=3), human, cache_dir=tmp_path / "live", show_progress=False)
        config = fast(server, votes=3).model_copy(update={"backend": "openai-batch"})
        config.batch.poll_interval = 0.02
        answered = server.answered
        batched = filter_synthetic(SYNTHETIC, config, human, cache_dir=tmp_path / "batch", show_progress=False)
        assert server.answered == answered and len(server.batches) == 1 and server.batch_lines_answered == 18
    assert list(batched.frame["id"]) == list(live.frame["id"]) == ["s0", "s1", "s3", "s4"]
    assert batched.summary["steps"][0]["calls"]["batch"]["jobs"][0]["answered"] == 18


def test_openai_batch_costs_use_batch_prices() -> None:
    backend = OpenAIBatchBackend("gpt-4o")
    assert backend.price == (1.25, 5.0) and backend.live_price == (2.5, 10.0)
    stats = CallStats(prompt_tokens=2_000_000, completion_tokens=1_000_000, batches=[{"id": "b"}])
    assert stats.cost(backend.price)["usd_this_run"] == pytest.approx(2.5 + 5.0)
    # A quarter of the tokens went out as live fallback calls and cost the list price.
    stats.live_fallback_calls, stats.live_prompt_tokens, stats.live_completion_tokens = 3, 500_000, 250_000
    stats.live_price = backend.live_price
    assert stats.cost(backend.price)["usd_this_run"] == pytest.approx(2.5 + 5.0 + 0.625 + 1.25)
    assert stats.as_dict(backend.price)["batch"]["price_per_mtok"] == (1.25, 5.0)


def test_openai_batch_output_lines_parse_like_live_answers() -> None:
    ok = {"custom_id": "k", "response": {"status_code": 200, "body": {"choices": [{"message": {"content": "1. hi"}}]}}}
    assert parse_output_line(ok)[0]["text"] == "1. hi"
    limited = {"custom_id": "k", "response": {"status_code": 429, "body": {}}, "error": None}
    assert parse_output_line(limited) == (None, "http_429")
    expired = {"custom_id": "k", "response": None, "error": {"code": "batch_expired", "message": "late"}}
    assert parse_output_line(expired) == (None, "batch_expired")
    assert parse_output_line({"custom_id": "k", "response": {"status_code": 200, "body": {"choices": []}}}) == (
        None,
        "malformed_response",
    )
