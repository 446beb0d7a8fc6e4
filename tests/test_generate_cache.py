"""Cache, retry timing rules and configuration (fast, no model)."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import pytest
from tenacity import RetryCallState

from synthgrade.generate import GenerationConfig, default_cache_dir
from synthgrade.generate.backends import RetryableError, completion, parse_retry_after, price_for
from synthgrade.generate.backoff import BackoffWait
from synthgrade.generate.cache import CACHE_FILE, CallCache, call_key
from synthgrade.generate.call_stats import Budget
from synthgrade.generate.config import RetryPolicy


def test_cache_round_trip_wal_and_key_sensitivity(tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "hi"}]
    sampling = {"temperature": 0.3, "top_p": 1.0, "max_tokens": 10, "seed": 1}
    key = call_key("openai", "m", messages, sampling, 0)
    assert key == call_key("openai", "m", messages, dict(reversed(sampling.items())), 0)
    variants = {
        call_key("local", "m", messages, sampling, 0),
        call_key("openai", "m2", messages, sampling, 0),
        call_key("openai", "m", [{"role": "user", "content": "hi!"}], sampling, 0),
        call_key("openai", "m", messages, {**sampling, "temperature": 0.9}, 0),
        call_key("openai", "m", messages, sampling, 1),
    }
    assert key not in variants and len(variants) == 5
    cache = CallCache(tmp_path)
    assert cache.get(key) is None
    cache.put(key, "openai", "m", {"messages": messages}, completion("1. a", "stop", 3, 2))
    cache.put(key, "openai", "m", {"messages": messages}, completion("other", "stop", 3, 2))  # first answer wins
    assert cache.get(key)["text"] == "1. a" and len(cache) == 1
    cache.close()
    reopened = CallCache(tmp_path)
    assert reopened.get(key)["completion_tokens"] == 2
    mode = reopened._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal" and (tmp_path / CACHE_FILE).exists()


def test_completion_flags_refusals() -> None:
    assert completion("I'm sorry, but I can't help with that.", "stop", 1, 1)["refusal"]
    assert completion("", "content_filter", 1, 0)["refusal"] == "content_filter"
    assert completion("1. Sorry seems to be the hardest word", "stop", 1, 1)["refusal"] is None


def backoff_delay(attempt: int, policy: RetryPolicy, retry_after: float | None) -> float:
    """The wait the runner's policy gives before retry ``attempt`` (0 = the first) after an error carrying ``retry_after``."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
    state.attempt_number = attempt + 1
    state.set_exception((RetryableError, RetryableError("backoff", retry_after), None))
    return BackoffWait(policy)(state)


def test_retry_after_and_backoff() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after({"retry-after": date}) <= 31
    assert parse_retry_after({}) is None and parse_retry_after(None) is None
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0)
    delays = [backoff_delay(3, policy, None) for _ in range(200)]
    assert all(0 <= d <= 8 for d in delays) and len(set(delays)) > 100  # jittered within the exponential bound
    assert backoff_delay(0, policy, 5.0) >= 5.0  # Retry-After is honoured
    assert backoff_delay(0, policy, 500.0) == 10.0  # but capped


def test_budget_and_prices_and_config(tmp_path: Path, monkeypatch) -> None:
    budget = Budget(2)
    assert budget.take() and budget.take() and not budget.take() and budget.exhausted
    assert Budget(None).take()
    assert price_for("gpt-4o") == (2.5, 10.0) and price_for("gpt-4o-2024-08-06") == (2.5, 10.0) and price_for("llama") is None
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    with pytest.raises(ValueError, match=r"min_chars \(50\) is above max_chars \(10\)"):
        GenerationConfig(min_chars=50, max_chars=10)
    with pytest.raises(ValueError, match=r"backend\n.*Input should be 'auto', 'local', 'openai'"):
        GenerationConfig(backend="gemini")


def test_runs_inside_a_running_event_loop(fixtures: Path, tmp_path: Path) -> None:
    """Notebooks already run an event loop; generation must still work there."""
    import asyncio

    from helpers.llm_server import FakeChatServer

    from synthgrade.data import load_responses
    from synthgrade.generate import generate_synthetic

    train = load_responses(fixtures / "civics.csv")

    async def inside_loop():
        with FakeChatServer() as server:
            config = GenerationConfig(
                backend="openai", model="m", base_url=server.base_url, per_label=2, per_call=2, embedder=None
            )
            return generate_synthetic(train, config, cache_dir=tmp_path, show_progress=False)

    result = asyncio.run(inside_loop())
    assert result.summary["kept"] == 4 and result.summary["model_calls"] == 2


def test_call_runner_retries_transient_failures_and_counts_what_gives_up(tmp_path: Path) -> None:
    """The tenacity loop: retryable errors back off and retry up to max_retries, a CallFailed ends at once."""
    from synthgrade.generate.backends import Backend, CallFailed, ChatRequest, RetryableError
    from synthgrade.generate.runner import CallRunner

    class Scripted(Backend):
        name = "openai"

        def __init__(self, script: dict[str, list[str]]) -> None:
            super().__init__("fake")
            self.script = script
            self.calls: list[str] = []

        async def complete(self, request: ChatRequest) -> dict:
            self.calls.append(request.key)
            step = self.script[request.key].pop(0) if self.script[request.key] else "ok"
            if step == "429":
                raise RetryableError("http_429", retry_after=0.01)
            if step == "400":
                raise CallFailed("http_400")
            return completion(f"1. answer to {request.key}", "stop", 3, 4)

    def request(key: str) -> ChatRequest:
        return ChatRequest(key=key, messages=[{"role": "user", "content": key}], temperature=0.3, top_p=1.0, max_tokens=8, seed=0)

    backend = Scripted({"flaky": ["429", "429"], "dead": ["429"] * 5, "bad": ["400"]})
    policy = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.05)
    runner = CallRunner(backend, CallCache(tmp_path), policy, concurrency=2, budget=Budget(None))
    results = runner.run([request("flaky"), request("dead"), request("bad")], show_progress=False)
    assert set(results) == {"flaky"} and "answer to flaky" in results["flaky"]["text"]
    assert backend.calls.count("flaky") == 3 and backend.calls.count("dead") == 3 and backend.calls.count("bad") == 1
    stats = runner.stats
    assert stats.retries == 4 and stats.retry_reasons == {"http_429": 4}
    assert stats.failed == 2 and stats.failures == {"http_429": 1, "http_400": 1}
