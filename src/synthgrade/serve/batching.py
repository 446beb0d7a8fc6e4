"""Dynamic micro-batching: requests that arrive within a few milliseconds share one model call.

Why the old merging did not pay (profiled with py-spy under 16 clients, student ONNX int8 on 2 CPU
cores): about 70% of the server's CPU went to ``Session.run``, and a merged call cost *more* per row
than single calls, because the merged rows were padded to the longest one (SciEntsBank pairs: 81
tokens on average, up to 162) and on a CPU batching buys no parallel hardware to offset that. HTTP
handling on the pure-Python h11 parser took most of the rest.

So a batch here is scored in length-sorted chunks of ``chunk_rows`` (little padding, the per-call
overhead still shared), the model runs in its own thread(s) off the event loop while the loop parses
the next requests, and the collector waits up to ``max_wait_s`` for more rows only while other
requests are already on their way in (``in_flight``), so a lone client never waits.

What a merged batch saves per row, measured as CPU time per row for six SciEntsBank pairs scored
together vs one at a time (MiniLM 3-layer student, one thread): the tokenizer runs once for the
batch, and the forward passes take rows in chunks. PyTorch: 12.1 ms alone; chunks of 2-4 rows
11.1 ms; all six padded together 11.8 ms (padding to the longest eats the saving), hence
``chunk_rows`` 4. ONNX fp32: 5.39 ms alone, 5.0 ms in chunks. ONNX int8 scores one row per call
(see :class:`synthgrade.export.OnnxScorer`): 2.66 ms alone, 2.61 ms after the shared tokenizer call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from synthgrade.modeling import Scorer

DEFAULT_MAX_ROWS = 64
DEFAULT_MAX_WAIT_S = 0.003
DEFAULT_CHUNK_ROWS = 4

#: Called after each model call with (rows, requests, seconds); the metrics hook.
BatchObserver = Callable[[int, int, float], None]


@dataclass
class _Job:
    first: list[str]
    second: list[str] | None
    future: asyncio.Future = field(repr=False)


class DynamicBatcher:
    """Collect concurrent scoring requests into batches of at most ``max_rows`` rows and score each in one call.

    ``in_flight`` returns how many scoring requests the server holds right now (parsed or not); while
    it exceeds the requests already collected, more are coming and the batch waits for them, up to
    ``max_wait_s``. ``parallel`` batches may be in the model at once (one thread each).
    """

    def __init__(
        self,
        scorer: Scorer,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        parallel: int = 1,
        in_flight: Callable[[], int] | None = None,
        observer: BatchObserver | None = None,
    ) -> None:
        if max_rows < 1 or chunk_rows < 1 or parallel < 1 or max_wait_s < 0:
            raise ValueError("max_rows, chunk_rows and parallel must be positive and max_wait_s not negative")
        self.scorer = scorer
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.chunk_rows = chunk_rows
        self.parallel = parallel
        self.in_flight = in_flight or (lambda: 0)
        self.observer = observer
        self.queue: asyncio.Queue[_Job] | None = None
        self.workers: list[asyncio.Task] = []
        self.pool: ThreadPoolExecutor | None = None
        self.calls = 0
        self._collected = 0  # requests taken from the queue and not yet answered
        self._carried: _Job | None = None  # did not fit the last batch: it leads the next one

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="synthgrade-scorer")
        self.workers = [asyncio.create_task(self._run()) for _ in range(self.parallel)]

    async def stop(self) -> None:
        for worker in self.workers:
            worker.cancel()
        for worker in self.workers:
            try:
                await worker
            except asyncio.CancelledError:
                pass
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def _predict(self, first: list[str], second: list[str] | None) -> np.ndarray:
        return self.scorer.predict_proba_inputs(first, second, batch_size=self.chunk_rows)

    async def score(self, first: list[str], second: list[str] | None) -> np.ndarray:
        """Probabilities for these rows, scored together with whatever else arrives at the same time."""
        if self.queue is None:  # app used without its lifespan (e.g. a bare TestClient): score inline
            return await asyncio.to_thread(self._predict, first, second)
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(first, second, future))
        return await future

    async def _collect(self) -> list[_Job]:
        assert self.queue is not None
        if self._carried is not None:
            jobs, self._carried = [self._carried], None
        else:
            jobs = [await self.queue.get()]
        self._collected += 1
        rows = len(jobs[0].first)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while rows < self.max_rows:
            if self.queue.empty():
                # Wait only while more requests are on their way in (held by the server, not yet queued).
                remaining = deadline - loop.time()
                if remaining <= 0 or self.in_flight() <= self._collected:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                job = self.queue.get_nowait()
            if rows + len(job.first) > self.max_rows:
                self._carried = job
                break
            jobs.append(job)
            self._collected += 1
            rows += len(job.first)
        return jobs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            pair = jobs[0].second is not None
            first = [text for job in jobs for text in job.first]
            second = [text for job in jobs for text in job.second or []] if pair else None
            started = time.perf_counter()
            try:
                proba = await loop.run_in_executor(self.pool, partial(self._predict, first, second))
                self.calls += 1
            except Exception as exc:  # hand the failure to every waiting request instead of killing the worker
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            finally:
                self._collected -= len(jobs)
            if self.observer is not None:
                self.observer(len(first), len(jobs), time.perf_counter() - started)
            start = 0
            for job in jobs:
                if not job.future.done():
                    job.future.set_result(proba[start : start + len(job.first)])
                start += len(job.first)
