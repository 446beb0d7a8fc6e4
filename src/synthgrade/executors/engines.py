"""Executors by name (``--executor``), so every command that runs tasks offers the same engines.

A new engine joins :data:`EXECUTORS` with a factory taking the shared options; commands call
:func:`make_executor` and never special-case an engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.executors.base import Executor, LocalExecutor, ProcessExecutor


@dataclass(frozen=True)
class ExecutorOptions:
    """What a command line can say about where tasks run; each engine uses the parts that apply."""

    workers: int = 1
    address: str | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float | None = None


def _local(options: ExecutorOptions) -> Executor:
    # More than one worker with the local engine means local processes, as `--workers N` always did.
    return ProcessExecutor(options.workers, "spawn") if options.workers > 1 else LocalExecutor()


def _process(options: ExecutorOptions) -> Executor:
    # spawn, not fork: forking a process that has started torch threads can hang.
    return ProcessExecutor(max(options.workers, 2), "spawn")


def _ray(options: ExecutorOptions) -> Executor:
    from synthgrade.executors.ray import RayExecutor

    return RayExecutor(options.address, options.cpus_per_task, options.gpus_per_task)


EXECUTORS: dict[str, Callable[[ExecutorOptions], Executor]] = {"local": _local, "process": _process, "ray": _ray}


def make_executor(name: str, options: ExecutorOptions | None = None) -> Executor:
    """The executor registered as ``name`` (one of :data:`EXECUTORS`), built from ``options``."""
    factory = EXECUTORS.get(name)
    if factory is None:
        raise SynthgradeError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    options = options or ExecutorOptions()
    if options.address and name != "ray":
        raise ParameterError("address", f"is for the ray executor only, not {name}")
    return factory(options)
