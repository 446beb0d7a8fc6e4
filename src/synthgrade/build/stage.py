"""The base of a build stage, what every stage may use (:class:`BuildContext`) and the progress view (:class:`StageClock`).

A stage is a class with a ``name`` (its line in the progress view), the :class:`~synthgrade.build.records.BuildState`
fields it ``reads`` and those it ``produces``, and :meth:`Stage.run`. Each stage writes its outputs
atomically under ``OUT/work`` and reuses them when a rerun finds them, so a killed build resumes where it
stopped. The order is :data:`synthgrade.build.stages.PIPELINE`, written once.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from synthgrade.build.config import BuildConfig
from synthgrade.build.inputs import BuildData
from synthgrade.build.layout import BuildLayout
from synthgrade.build.records import BuildState
from synthgrade.console import console
from synthgrade.executors.base import Executor
from synthgrade.io import write_json


class StageClock:
    """Prints which stage runs, the time spent and what is left of the time budget (the progress view)."""

    def __init__(self, budget_s: float, names: Sequence[str], spent_before: float = 0.0) -> None:
        self.started = time.perf_counter()
        self.budget_s = budget_s
        self.names = tuple(names)
        self.spent_before = spent_before

    @property
    def elapsed(self) -> float:
        return self.spent_before + time.perf_counter() - self.started

    @property
    def left(self) -> float:
        return self.budget_s - self.elapsed

    def stage(self, name: str, detail: str = "") -> None:
        use_free_cores()
        number = self.names.index(name) + 1
        console.rule(f"[bold][{number}/{len(self.names)}] {name}", align="left")
        if detail:
            console.print(detail, highlight=False)

    def note(self, text: str, eta_s: float | None = None) -> None:
        eta = f", about {minutes(eta_s)} to go" if eta_s is not None else ""
        console.print(f"{text} (elapsed {minutes(self.elapsed)}{eta})", highlight=False)


def use_free_cores() -> None:
    """Each stage runs torch on the cores other processes leave free (on a shared CPU, surplus threads wait on each other)."""
    import torch  # every build embeds (hybrids, the cleaning's near-duplicate check) or generates with it

    from synthgrade.generate.local_model import free_cores

    torch.set_num_threads(free_cores())


def minutes(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


@dataclass
class BuildContext:
    """What every stage of one build may use: its rows, settings, folder, clock and executor."""

    data: BuildData
    config: BuildConfig
    layout: BuildLayout
    clock: StageClock
    executor: Executor
    key: str  # the fingerprint of data and settings a resumed build must match

    @property
    def labels(self) -> list[str]:
        return self.data.labels

    def save_state(self, **extra: Any) -> None:
        """``work/state.json``: the build's key and the time spent, so a resumed build counts the time before."""
        write_json(self.layout.state, {"key": self.key, "elapsed_s": round(self.clock.elapsed, 1), **extra})

    def label_index(self, frame: pd.DataFrame) -> np.ndarray:
        from synthgrade.data import label_indices

        return label_indices(frame, self.labels)


class Stage(ABC):
    """One step of the build; subclasses set ``name``, ``reads`` and ``produces`` and implement :meth:`run`."""

    name: ClassVar[str]
    #: BuildState fields this stage needs (an earlier stage produces each).
    reads: ClassVar[tuple[str, ...]] = ()
    #: BuildState fields this stage sets.
    produces: ClassVar[tuple[str, ...]] = ()

    def __init__(self, context: BuildContext) -> None:
        self.context = context
        self.config = context.config
        self.layout = context.layout
        self.clock = context.clock
        self.labels = context.labels

    @property
    def data(self) -> BuildData:
        return self.context.data

    def announce(self, detail: str = "") -> None:
        """The stage's header in the progress view."""
        self.clock.stage(self.name, detail)

    @abstractmethod
    def run(self, state: BuildState) -> None:
        """Produce this stage's fields of ``state`` (and its files), reusing what a previous run finished."""
