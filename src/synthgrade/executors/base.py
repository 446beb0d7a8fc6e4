"""Executors run tasks (trials, synthetic sets): a pure function applied to picklable specs.

An executor only needs :meth:`Executor.map`: apply ``fn`` to each task and yield an :class:`Outcome`
as each finishes, in any order. Trial code never sees the executor, so a distributed engine fits
without touching it: :class:`ProcessExecutor` runs tasks in local worker processes, and
:class:`~synthgrade.executors.ray.RayExecutor` on a Ray cluster (shipping each task's input
files through Ray's object store, so no shared disk is needed). Commands pick one by name from
:data:`synthgrade.executors.engines.EXECUTORS`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from synthgrade.errors import SynthgradeError


@dataclass
class Outcome:
    """One finished task: its result, or the one-line error that stopped it."""

    task: Any
    result: Any
    error: str | None
    seconds: float


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, SynthgradeError):
        return str(exc)
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


def timed_call(fn: Callable[[Any], Any], task: Any) -> tuple[Any, str | None, float]:
    start = time.perf_counter()
    try:
        return fn(task), None, time.perf_counter() - start
    except Exception as exc:  # reported per task; the sweep goes on with the others
        return None, describe_error(exc), time.perf_counter() - start


class Executor(ABC):
    @abstractmethod
    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Outcome]:
        """Run ``fn(task)`` for every task; yield each :class:`Outcome` as it finishes."""


class LocalExecutor(Executor):
    """Runs tasks one after another in this process (the default: models use all cores anyway)."""

    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Outcome]:
        for task in tasks:
            result, error, seconds = timed_call(fn, task)
            yield Outcome(task, result, error, seconds)


class ProcessExecutor(Executor):
    """Runs tasks in ``workers`` local processes; tasks and results must pickle (as they would for Ray)."""

    def __init__(self, workers: int = 2, start_method: str | None = None) -> None:
        if workers < 1:
            raise SynthgradeError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.start_method = start_method

    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Outcome]:
        context = multiprocessing.get_context(self.start_method) if self.start_method else None
        pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_exit_with_parent, initargs=(os.getpid(),)
        )
        finished = False
        try:
            with _sigterm_as_exit():
                futures: dict[Future, Any] = {pool.submit(timed_call, fn, task): task for task in tasks}
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        result, error, seconds = future.result()
                        yield Outcome(futures[future], result, error, seconds)
            finished = True
        finally:
            if not finished:  # interrupted, killed or abandoned: running trials must not outlive the sweep
                _kill_workers(pool)
            pool.shutdown(wait=finished, cancel_futures=True)


def _exit_with_parent(parent: int, interval: float = 0.5) -> None:
    """Worker initializer: end this worker as soon as the sweep process is gone (even after ``kill -9``,
    which gives the parent no chance to clean up), instead of running on as an orphan."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    # The pool has no public way to stop running tasks (Python < 3.14), and shutdown() would wait for them.
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.kill()
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.join(timeout=5)


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (``kill``, a scheduler's stop) raises SystemExit(143) so the pool's workers are stopped too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
