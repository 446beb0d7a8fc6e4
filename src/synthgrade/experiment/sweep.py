"""Running a sweep: split once, make the shared synthetic sets, run the missing trials, append results.

The run directory holds ``sweep.yaml`` (the effective config), ``split/``, ``synthetic/`` (one set per
key), ``trials.jsonl`` (finished trials), ``failures.jsonl`` (trials that raised; retried on the next
run) and ``plan.json``. Rerunning the same command skips every trial already in ``trials.jsonl``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from synthgrade.console import console, progress
from synthgrade.errors import SynthgradeError
from synthgrade.executors.base import Executor, LocalExecutor
from synthgrade.experiment.config import SweepConfig
from synthgrade.experiment.data import load_and_split, prepare_split, summarise
from synthgrade.experiment.layout import SweepLayout, synthetic_path
from synthgrade.experiment.plan import SweepPlan, SyntheticSpec, TrialSpec, plan_trials
from synthgrade.experiment.store import ResultsStore
from synthgrade.experiment.trial import make_synthetic, run_trial
from synthgrade.io import remove_stale_temporaries, to_jsonable, write_json, write_text_atomic

TrialFunction = Callable[[TrialSpec], dict[str, Any]]
SyntheticFunction = Callable[[SyntheticSpec], dict[str, Any]]

__all__ = ["SweepResult", "check_plan_size", "format_seconds", "plan_sweep", "run_sweep", "synthetic_path"]


@dataclass
class SweepResult:
    run_dir: Path
    plan: SweepPlan
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    synthetic_made: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.failed


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def plan_sweep(config: SweepConfig, run_dir: str | Path | None = None) -> SweepPlan:
    """Plan without running (``--dry-run``): reads and splits the data in memory to size the estimates."""
    parts = load_and_split(config)
    return plan_trials(config, summarise(parts), str(run_dir or ""))


def _write_config(config: SweepConfig, layout: SweepLayout) -> None:
    data = config.model_dump(mode="json")
    # Paths are written absolute so the saved config reruns from anywhere.
    data["data"]["path"] = str(config.resolve_path(config.data.path))
    if config.data.test_path:
        data["data"]["test_path"] = str(config.resolve_path(config.data.test_path))
    write_text_atomic(layout.config, yaml.safe_dump(to_jsonable(data), sort_keys=False, allow_unicode=True))


def _open_run_dir(out_dir: str | Path) -> SweepLayout:
    layout = SweepLayout(out_dir)
    layout.root.mkdir(parents=True, exist_ok=True)
    # A killed earlier run (kill -9 runs no cleanup) may have left half-written temporaries anywhere in the run.
    for leftover in remove_stale_temporaries(layout.root, recursive=True):
        console.print(f"removed {leftover.relative_to(layout.root)} left by an interrupted run", highlight=False)
    return layout


def _write_plan(config: SweepConfig, layout: SweepLayout) -> SweepPlan:
    """Split (once), then write ``sweep.yaml`` and ``plan.json``; returns the plan."""
    data = prepare_split(config, layout.root)
    _write_config(config, layout)
    plan = plan_trials(config, data, str(layout.root.resolve()))
    write_json(
        layout.plan,
        {
            "name": config.name,
            "data": dataclasses.asdict(data),
            "trials": [{"key": t.key, "params": t.params, "synthetic": t.synthetic_key} for t in plan.trials],
            "synthetic": [{"key": s.key, **s.params} for s in plan.synthetic],
            "metric": config.evaluation.metric,
        },
    )
    return plan


def _finished_trials(store: ResultsStore) -> dict[str, dict[str, Any]]:
    done = store.load()
    if store.ignored_partial:
        console.print("[yellow]warning:[/yellow] trials.jsonl ended in a partial line (interrupted write); that trial runs again")
    if store.bad_lines:
        console.print(f"[yellow]warning:[/yellow] trials.jsonl lines {store.bad_lines} are not valid JSON rows; ignored")
    return done


def _synthetic_waves(missing: list[SyntheticSpec], layout: SweepLayout) -> tuple[list[SyntheticSpec], list[SyntheticSpec]]:
    """Wave 1 generates each missing raw set once (shared by its filter modes); wave 2 filters."""
    raw_first: dict[str, SyntheticSpec] = {}
    for spec in missing:
        if not layout.synthetic(spec.generation_key).exists():
            raw = (
                spec
                if spec.filter == "off"
                else dataclasses.replace(spec, key=spec.generation_key, filter="off", filter_config=None)
            )
            raw_first.setdefault(spec.generation_key, raw)
    return list(raw_first.values()), [s for s in missing if s.filter != "off"]


def _make_synthetic_sets(
    specs: list[SyntheticSpec],
    layout: SweepLayout,
    executor: Executor,
    synthetic_fn: SyntheticFunction,
    result: SweepResult,
    show_progress: bool,
) -> dict[str, str]:
    """Make the sets of ``specs`` not on disk yet; returns the errors by generation key (or filtered set key)."""
    missing = [s for s in specs if not layout.synthetic(s.key).exists()]
    set_errors: dict[str, str] = {}
    if not missing:
        return set_errors
    generations, filterings = _synthetic_waves(missing, layout)
    total = len(generations) + len(filterings)
    console.print(
        f"synthetic sets: {total} to make ({len(generations)} generations, {len(filterings)} filterings)", highlight=False
    )
    with progress() as bars:
        bar = bars.add_task("synthetic sets", total=total, rate="", visible=show_progress)
        for wave in (generations, filterings):
            wave = [s for s in wave if s.generation_key not in set_errors]
            for outcome in executor.map(synthetic_fn, wave):
                spec = outcome.task
                if outcome.error:
                    set_errors[spec.generation_key if spec.filter == "off" else spec.key] = outcome.error
                    console.print(f"[red]synthetic set {spec.key} failed:[/red] {outcome.error}", highlight=False)
                else:
                    result.synthetic_made.append(spec.key)
                bars.advance(bar)
    return set_errors


def _runnable(
    pending: list[TrialSpec],
    specs: list[SyntheticSpec],
    set_errors: dict[str, str],
    failures: ResultsStore,
    result: SweepResult,
) -> list[TrialSpec]:
    """The pending trials whose synthetic set exists; the others are recorded as failed."""
    by_key = {s.key: s for s in specs}
    runnable = []
    for trial in pending:
        spec = by_key.get(trial.synthetic_key) if trial.synthetic_key else None
        error = (set_errors.get(spec.generation_key) or set_errors.get(spec.key)) if spec is not None else None
        if error:
            result.failed[trial.key] = f"synthetic set failed: {error}"
            failures.append({"key": trial.key, "params": trial.params, "error": result.failed[trial.key], "at": _now()})
        else:
            runnable.append(trial)
    return runnable


def _run_trials(
    runnable: list[TrialSpec],
    executor: Executor,
    trial_fn: TrialFunction,
    store: ResultsStore,
    failures: ResultsStore,
    result: SweepResult,
    show_progress: bool,
) -> None:
    """Run the trials, appending each finished row to ``trials.jsonl`` and each failure to ``failures.jsonl``."""
    estimate = sum(t.estimated_s for t in runnable)
    console.print(f"trials: {len(runnable)} to run (estimated {format_seconds(estimate)})", highlight=False)
    with progress() as bars:
        bar = bars.add_task("trials", total=len(runnable), rate="", visible=show_progress)
        for outcome in executor.map(trial_fn, runnable):
            trial: TrialSpec = outcome.task
            if outcome.error:
                result.failed[trial.key] = outcome.error
                failures.append({"key": trial.key, "params": trial.params, "error": outcome.error, "at": _now()})
                console.print(f"[red]trial {trial.key} {trial.params} failed:[/red] {outcome.error}", highlight=False)
            else:
                row = dict(outcome.result)
                row.update(
                    {"key": trial.key, "params": trial.params, "config": trial.config, "synthetic_key": trial.synthetic_key}
                )
                row.setdefault("status", "ok")
                row.setdefault("seconds", round(outcome.seconds, 3))
                row.setdefault("finished_at", _now())
                store.append(row)
                result.ran.append(trial.key)
            bars.update(bar, advance=1, rate=f"{len(result.ran)} ok, {len(result.failed)} failed")


def run_sweep(
    config: SweepConfig,
    out_dir: str | Path,
    executor: Executor | None = None,
    trial_fn: TrialFunction | None = None,
    synthetic_fn: SyntheticFunction | None = None,
    show_progress: bool = True,
    max_trials: int | None = None,
) -> SweepResult:
    """Run every trial of ``config`` not yet in ``out_dir/trials.jsonl``; return what ran, was skipped or failed.

    ``trial_fn`` (config in, row out) and ``synthetic_fn`` default to the real pipeline in
    :mod:`synthgrade.experiment.trial`; ``executor`` defaults to :class:`LocalExecutor`.
    A failing trial is recorded in ``failures.jsonl`` and retried by the next run; the others go on.
    """
    start = time.perf_counter()
    layout = _open_run_dir(out_dir)
    executor = executor or LocalExecutor()
    plan = _write_plan(config, layout)
    store, failures = ResultsStore(layout.trials), ResultsStore(layout.failures)
    done = _finished_trials(store)
    result = SweepResult(layout.root, plan)
    pending = [t for t in plan.trials if t.key not in done]
    result.skipped = [t.key for t in plan.trials if t.key in done]
    if max_trials is not None:
        pending = pending[:max_trials]
    if result.skipped:
        console.print(
            f"resuming {layout.root}: {len(result.skipped)} of {len(plan.trials)} trials already finished", highlight=False
        )

    # Synthetic sets: generate each once (wave 1), then filter (wave 2), only for trials still to run.
    needed = {t.synthetic_key for t in pending if t.synthetic_key}
    specs = [dataclasses.replace(s, run_dir=str(layout.root.resolve())) for s in plan.synthetic if s.key in needed]
    set_errors = _make_synthetic_sets(specs, layout, executor, synthetic_fn or make_synthetic, result, show_progress)
    runnable = _runnable(pending, specs, set_errors, failures, result)
    if runnable:
        _run_trials(runnable, executor, trial_fn or run_trial, store, failures, result, show_progress)
    result.seconds = time.perf_counter() - start
    return result


def check_plan_size(plan: SweepPlan, limit: int = 10_000) -> None:
    if len(plan.trials) > limit:
        raise SynthgradeError(f"the sweep has {len(plan.trials)} trials (over {limit}); shorten one of its lists")
