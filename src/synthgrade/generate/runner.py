"""Run many chat calls: cache first, then the backend with bounded concurrency, retries and a budget.

Each completed call is written to the cache the moment it arrives. Failed calls (after retries) are
counted by kind and never produce text; refusals and empty completions are stored (they were paid
for) and counted. Counting lives in :mod:`.call_stats`, the retry wait in :mod:`.backoff` and the
event loop in :mod:`.event_loop`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from synthgrade.console import console, progress
from synthgrade.errors import SynthgradeError
from synthgrade.generate.backends import Backend, CallFailed, ChatRequest, RetryableError
from synthgrade.generate.backoff import DEAD_SERVER_KINDS, BackoffWait
from synthgrade.generate.cache import CallCache
from synthgrade.generate.call_stats import Budget, CallStats
from synthgrade.generate.config import RetryPolicy
from synthgrade.generate.event_loop import run_coroutine

#: Moves the progress bar on by that many finished (or skipped) calls.
Advance = Callable[[int], None]


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

    async def _run_deferred(self, pending: list[ChatRequest], results: dict[str, dict], advance: Advance) -> None:
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
            live = self._settle_missed(missed)
            if live:
                await self._run_live_fallback(live, results)
        finally:
            await self.backend.aclose()

    def _settle_missed(self, missed: list[tuple[ChatRequest, str, bool]]) -> list[ChatRequest]:
        """Count the calls a batch job missed as failed, except the retryable ones ``--fallback live`` sends again."""
        live = [request for request, _, retryable in missed if retryable and self.backend.fallback == "live"]
        for _request, kind, retryable in missed:
            if not (retryable and self.backend.fallback == "live"):
                self.stats.failed += 1
                self.stats.failures[kind] += 1
        return live

    async def _run_live_fallback(self, live: list[ChatRequest], results: dict[str, dict]) -> None:
        """The calls a batch missed, as live calls at the live price (their tokens counted apart for the cost)."""
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

    async def _run_in_process(self, pending: list[ChatRequest], results: dict[str, dict], advance: Advance) -> None:
        """A model in this process: load it (timed apart), then one batch of ``batch_size`` calls at a time."""
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
            answers = await self._complete_batch(batch)
            for request, result in zip(batch, answers, strict=True):
                self._store(request, result)
                results[request.key] = result
            advance(len(batch))

    async def _complete_batch(self, batch: list[ChatRequest]) -> list[dict]:
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(self.backend.complete_batch, batch)
        except SynthgradeError:
            raise
        except Exception as exc:  # a local model that crashes will crash again: stop; finished batches are cached
            detail = str(exc).splitlines()[0] if str(exc) else ""
            raise SynthgradeError(
                f"{self.backend.name} model {self.backend.model} failed: {type(exc).__name__} {detail}"
            ) from exc
        finally:
            self.stats.model_seconds += time.perf_counter() - started

    async def _run_concurrent(self, pending: list[ChatRequest], results: dict[str, dict], advance: Advance) -> None:
        """A server: up to ``concurrency`` calls in flight, each with its own retries."""
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

    async def _run_async(self, pending: list[ChatRequest], results: dict[str, dict], advance: Advance) -> None:
        if self.backend.deferred:
            await self._run_deferred(pending, results, advance)
        elif self.backend.in_process:
            await self._run_in_process(pending, results, advance)
        else:
            await self._run_concurrent(pending, results, advance)

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
