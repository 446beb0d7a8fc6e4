"""Run many chat calls: cache first, then the backend with bounded concurrency, retries and a budget.

Each completed call is written to the cache the moment it arrives. Failed calls (after retries) are
counted by kind and never produce text; refusals and empty completions are stored (they were paid
for) and counted.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_random_exponential
from tenacity.wait import wait_base

from synthgrade.console import console, progress
from synthgrade.errors import SynthgradeError
from synthgrade.generate.backends import Backend, CallFailed, ChatRequest, RetryableError
from synthgrade.generate.cache import CallCache
from synthgrade.generate.config import RetryPolicy


@dataclass
class CallStats:
    """What the calls of one run did; ``as_dict`` goes into the summary JSON."""

    requested: int = 0
    cache_hits: int = 0
    model_calls: int = 0
    completed: int = 0
    failed: int = 0
    refused: int = 0
    empty: int = 0
    truncated: int = 0
    retries: int = 0
    skipped_budget: int = 0
    failures: Counter = field(default_factory=Counter)
    retry_reasons: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    model_seconds: float = 0.0
    load_seconds: float = 0.0
    #: Batch API jobs (openai-batch): id, status and request counts of each, and calls that fell back to live.
    batches: list[dict[str, Any]] = field(default_factory=list)
    live_fallback_calls: int = 0
    live_prompt_tokens: int = 0
    live_completion_tokens: int = 0
    #: Price of the live fallback calls (the batch ones cost ``price``, half the list price).
    live_price: tuple[float, float] | None = None

    def count_result(self, result: dict, cached: bool) -> None:
        if cached:
            self.cache_hits += 1
            self.cached_prompt_tokens += result.get("prompt_tokens", 0)
            self.cached_completion_tokens += result.get("completion_tokens", 0)
        else:
            self.completed += 1
            self.prompt_tokens += result.get("prompt_tokens", 0)
            self.completion_tokens += result.get("completion_tokens", 0)
        if result.get("refusal"):
            self.refused += 1
        elif not (result.get("text") or "").strip():
            self.empty += 1
        if result.get("finish_reason") == "length":
            self.truncated += 1

    def cost(self, price: tuple[float, float] | None) -> dict[str, float | None]:
        if price is None:
            return {"usd_this_run": None, "usd_including_cached": None}
        this_run = (self.prompt_tokens * price[0] + self.completion_tokens * price[1]) / 1e6
        if self.live_fallback_calls and self.live_price is not None:
            # Fallback calls were paid at the live price, not the batch price the rest of the tokens had.
            extra = (self.live_price[0] - price[0], self.live_price[1] - price[1])
            this_run += (self.live_prompt_tokens * extra[0] + self.live_completion_tokens * extra[1]) / 1e6
        cached = (self.cached_prompt_tokens * price[0] + self.cached_completion_tokens * price[1]) / 1e6
        return {"usd_this_run": round(this_run, 6), "usd_including_cached": round(this_run + cached, 6)}

    def as_dict(self, price: tuple[float, float] | None = None) -> dict[str, Any]:
        batch = (
            {"batch": {"jobs": self.batches, "live_fallback_calls": self.live_fallback_calls, "price_per_mtok": price}}
            if self.batches
            else {}
        )
        return {
            **batch,
            "requested": self.requested,
            "cache_hits": self.cache_hits,
            "model_calls": self.model_calls,
            "completed": self.completed,
            "failed": self.failed,
            "failures": dict(sorted(self.failures.items())),
            "retries": self.retries,
            "retry_reasons": dict(sorted(self.retry_reasons.items())),
            "refused": self.refused,
            "empty": self.empty,
            "truncated": self.truncated,
            "skipped_budget": self.skipped_budget,
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "cached_prompt": self.cached_prompt_tokens,
                "cached_completion": self.cached_completion_tokens,
            },
            "model_load_s": round(self.load_seconds, 2),
            "model_seconds": round(self.model_seconds, 2),
            "completion_tokens_per_s": round(self.completion_tokens / self.model_seconds, 2) if self.model_seconds else None,
            "cost": self.cost(price),
        }


class Budget:
    """A hard cap on model calls started in this run (``None`` = unlimited); retries are not new calls."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0

    def take(self) -> bool:
        if self.limit is not None and self.used >= self.limit:
            return False
        self.used += 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit


class BackoffWait(wait_base):
    """tenacity wait: full-jitter exponential backoff (attempt k waits up to ``base_delay * 2**k``), a server's
    Retry-After honoured as the minimum wait, and ``max_delay`` capping both."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        # tenacity caps the window before drawing; the cap applies again below, after Retry-After.
        self.jitter = wait_random_exponential(multiplier=policy.base_delay, max=policy.max_delay)

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome is not None else None
        delay = self.jitter(retry_state)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.policy.max_delay)


def _run_interruptible(coroutine: Any) -> Any:
    """``asyncio.run`` where Ctrl-C or a kill cancels the calls (each closes its connection) and then reaches the
    process's own handler, instead of being raised inside whichever task happened to run (a traceback)."""
    signals = (signal.SIGINT, signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(coroutine)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    received: list[int] = []

    async def main() -> Any:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()

        def stop(signum: int) -> None:
            received.append(signum)
            if task is not None:
                task.cancel()

        for sig in signals:
            try:
                loop.add_signal_handler(sig, stop, sig)
            except NotImplementedError:  # Windows event loops: signals keep their process handlers
                break
        return await coroutine

    result = None
    try:
        result = asyncio.run(main())
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for sig, handler in previous.items():  # the loop leaves the defaults behind, not the handlers it found
            signal.signal(sig, handler)
    if not received:
        return result
    signal.raise_signal(received[-1])  # the process's handler: Interrupted from the CLI, Python's default otherwise
    raise KeyboardInterrupt  # a handler that returned: stop all the same


def run_coroutine(coroutine: Any) -> Any:
    """``asyncio.run``, also from code that already runs an event loop (Jupyter): then in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_interruptible(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


#: Failed attempts that say the server is gone (nothing listens, no answer in time, a broken body) rather than busy.
DEAD_SERVER_KINDS = frozenset({"connection_error", "timeout", "malformed_response"})


class CallRunner:
    def __init__(self, backend: Backend, cache: CallCache, policy: RetryPolicy, concurrency: int, budget: Budget) -> None:
        self.backend = backend
        self.cache = cache
        self.policy = policy
        self.concurrency = concurrency
        self.budget = budget
        self.stats = CallStats()
        #: Attempts in a row (over all calls) that failed as a dead server does; any answer resets it.
        self.dead_streak = 0
        #: That many such failures in a row, with no answer between, end the run instead of retrying for minutes.
        self.dead_after = max(8, 2 * concurrency)

    def _store(self, request: ChatRequest, result: dict) -> None:
        self.cache.put(request.key, self.backend.name, self.backend.model, request.record(), result)
        self.stats.count_result(result, cached=False)

    def _retrying(self) -> AsyncRetrying:
        """Retry transient failures (:class:`RetryableError`) up to ``max_retries`` times with :class:`BackoffWait`."""

        def count_retry(state: RetryCallState) -> None:
            kind = state.outcome.exception().kind
            self.stats.retries += 1
            self.stats.retry_reasons[kind] += 1
            self._check_alive(kind)

        return AsyncRetrying(
            retry=retry_if_exception_type(RetryableError),
            stop=stop_after_attempt(self.policy.max_retries + 1),
            wait=BackoffWait(self.policy),
            before_sleep=count_retry,
            reraise=True,
        )

    def _check_alive(self, kind: str) -> None:
        """Stop the run with one clear error when the server is gone: it refuses connections now, or has failed
        ``dead_after`` attempts in a row without a single answer. Answers so far are in the cache."""
        if kind not in DEAD_SERVER_KINDS:
            return
        self.dead_streak += 1
        where = getattr(self.backend, "server", self.backend.name)
        if kind == "connection_error":
            self.backend.check_reachable()
        if self.dead_streak >= self.dead_after:
            raise SynthgradeError(
                f"{where}: the last {self.dead_streak} attempts failed ({kind}) without one answer; the server is "
                "down or stuck (answers so far are cached: rerun to resume, or raise --timeout for a slow server)"
            )

    async def _timed_complete(self, request: ChatRequest) -> dict:
        started = time.perf_counter()
        try:
            result = await self.backend.complete(request)
        finally:
            self.stats.model_seconds += time.perf_counter() - started
        self.dead_streak = 0
        return result

    async def _one(self, request: ChatRequest) -> dict | None:
        """One call with retries; ``None`` (counted by kind) when it fails for good."""
        try:
            result = await self._retrying()(self._timed_complete, request)
        except (RetryableError, CallFailed) as exc:
            self.stats.failed += 1
            self.stats.failures[exc.kind] += 1
            return None
        self._store(request, result)
        return result

    async def _run_deferred(self, pending: list[ChatRequest], results: dict[str, dict], advance) -> None:
        """A backend that answers a whole job later (the Batch API): submit, wait, then settle what it missed."""
        submitted = []
        for request in pending:
            if self.budget.take():
                submitted.append(request)
            else:
                self.stats.skipped_budget += 1
                advance(1)
        if not submitted:
            return
        self.stats.model_calls += len(submitted)

        def deliver(request: ChatRequest, result: dict) -> None:
            self._store(request, result)
            results[request.key] = result

        try:
            started = time.perf_counter()
            missed = await self.backend.complete_deferred(submitted, deliver, self.cache, self.stats, advance)
            self.stats.model_seconds += time.perf_counter() - started
            live = [request for request, _, retryable in missed if retryable and self.backend.fallback == "live"]
            for _request, kind, retryable in missed:
                if not (retryable and self.backend.fallback == "live"):
                    self.stats.failed += 1
                    self.stats.failures[kind] += 1
            if live:
                console.print(f"{len(live)} requests the batch missed go out as live calls (--fallback live)", highlight=False)
                before = (self.stats.prompt_tokens, self.stats.completion_tokens)
                self.stats.live_fallback_calls += len(live)
                self.stats.model_calls += len(live)
                self.stats.live_price = self.backend.live_price
                semaphore = asyncio.Semaphore(self.concurrency)

                async def live_call(request: ChatRequest) -> None:
                    async with semaphore:
                        result = await self._one(request)
                        if result is not None:
                            results[request.key] = result

                await asyncio.gather(*(live_call(r) for r in live))
                self.stats.live_prompt_tokens += self.stats.prompt_tokens - before[0]
                self.stats.live_completion_tokens += self.stats.completion_tokens - before[1]
        finally:
            await self.backend.aclose()

    async def _run_async(self, pending: list[ChatRequest], results: dict[str, dict], advance) -> None:
        if self.backend.deferred:
            await self._run_deferred(pending, results, advance)
            return
        if self.backend.in_process:
            if not self.budget.exhausted:
                started = time.perf_counter()
                await asyncio.to_thread(self.backend.load)  # timed apart, so tokens/s measures generation only
                self.stats.load_seconds += time.perf_counter() - started
            for start in range(0, len(pending), self.backend.batch_size):
                batch = []
                for request in pending[start : start + self.backend.batch_size]:
                    if self.budget.take():
                        batch.append(request)
                    else:
                        self.stats.skipped_budget += 1
                if not batch:
                    continue
                self.stats.model_calls += len(batch)
                started = time.perf_counter()
                try:
                    answers = await asyncio.to_thread(self.backend.complete_batch, batch)
                except SynthgradeError:
                    raise
                except Exception as exc:  # a local model that crashes will crash again: stop; finished batches are cached
                    detail = str(exc).splitlines()[0] if str(exc) else ""
                    raise SynthgradeError(
                        f"{self.backend.name} model {self.backend.model} failed: {type(exc).__name__} {detail}"
                    ) from exc
                finally:
                    self.stats.model_seconds += time.perf_counter() - started
                for request, result in zip(batch, answers, strict=True):
                    self._store(request, result)
                    results[request.key] = result
                advance(len(batch))
            return
        semaphore = asyncio.Semaphore(self.concurrency)

        async def worker(request: ChatRequest) -> None:
            async with semaphore:
                if not self.budget.take():
                    self.stats.skipped_budget += 1
                    advance(1)
                    return
                self.stats.model_calls += 1
                result = await self._one(request)
                if result is not None:
                    results[request.key] = result
                advance(1)

        try:
            await asyncio.gather(*(worker(r) for r in pending))
        finally:
            await self.backend.aclose()

    def run(self, requests: list[ChatRequest], description: str = "calls", show_progress: bool = True) -> dict[str, dict]:
        """Results by request key, for every call answered from the cache or the model (failed ones absent)."""
        results: dict[str, dict] = {}
        pending: list[ChatRequest] = []
        seen: set[str] = set()
        for request in requests:
            self.stats.requested += 1
            cached = self.cache.get(request.key)
            if cached is not None:
                self.stats.count_result(cached, cached=True)
                results[request.key] = cached
            elif request.key not in seen:
                seen.add(request.key)
                pending.append(request)
        if not pending:
            return results
        if self.budget.exhausted:
            self.stats.skipped_budget += len(pending)
            return results
        if self.backend.in_process and not self.backend.loaded and show_progress:
            console.print(f"loading {self.backend.name} model {self.backend.model} ...", highlight=False)
        self.backend.check_reachable()  # a dead server is one clear error now, not retries for a minute
        with progress(transient=not show_progress) as bar:
            task = bar.add_task(description, total=len(pending), rate="", visible=show_progress)
            started = time.perf_counter()

            def advance(n: int) -> None:
                elapsed = max(time.perf_counter() - started, 1e-6)
                bar.update(task, advance=n, rate=f"{self.stats.completion_tokens / elapsed:.0f} tok/s")

            run_coroutine(self._run_async(pending, results, advance))
        return results
