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
from synthgrade.experiment.config import SweepConfig
from synthgrade.experiment.data import load_and_split, prepare_split, summarise
from synthgrade.experiment.executor import Executor, LocalExecutor
from synthgrade.experiment.plan import SweepPlan, SyntheticSpec, TrialSpec, plan_trials
from synthgrade.experiment.store import FAILURES_FILE, TRIALS_FILE, ResultsStore
from synthgrade.io import remove_stale_temporaries, to_jsonable, write_json, write_text_atomic

TrialFunction = Callable[[TrialSpec], dict[str, Any]]
SyntheticFunction = Callable[[SyntheticSpec], dict[str, Any]]
CONFIG_FILE = "sweep.yaml"


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


def synthetic_path(run_dir: str | Path, key: str) -> Path:
    return Path(run_dir) / "synthetic" / f"{key}.jsonl"


def _default_trial() -> TrialFunction:
    from synthgrade.experiment.trial import run_trial

    return run_trial


def _default_synthetic() -> SyntheticFunction:
    from synthgrade.experiment.trial import make_synthetic

    return make_synthetic


def _write_config(config: SweepConfig, run_dir: Path) -> None:
    data = config.model_dump(mode="json")
    # Paths are written absolute so the saved config reruns from anywhere.
    data["data"]["path"] = str(config.resolve_path(config.data.path))
    if config.data.test_path:
        data["data"]["test_path"] = str(config.resolve_path(config.data.test_path))
    write_text_atomic(run_dir / CONFIG_FILE, yaml.safe_dump(to_jsonable(data), sort_keys=False, allow_unicode=True))


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
    run_dir = Path(out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # A killed earlier run (kill -9 runs no cleanup) may have left half-written temporaries anywhere in the run.
    for leftover in remove_stale_temporaries(run_dir, recursive=True):
        console.print(f"removed {leftover.relative_to(run_dir)} left by an interrupted run", highlight=False)
    executor = executor or LocalExecutor()
    trial_fn = trial_fn or _default_trial()
    synthetic_fn = synthetic_fn or _default_synthetic()

    data = prepare_split(config, run_dir)
    _write_config(config, run_dir)
    plan = plan_trials(config, data, str(run_dir.resolve()))
    write_json(
        run_dir / "plan.json",
        {
            "name": config.name,
            "data": dataclasses.asdict(data),
            "trials": [{"key": t.key, "params": t.params, "synthetic": t.synthetic_key} for t in plan.trials],
            "synthetic": [{"key": s.key, **s.params} for s in plan.synthetic],
            "metric": config.evaluation.metric,
        },
    )
    store = ResultsStore(run_dir / TRIALS_FILE)
    failures = ResultsStore(run_dir / FAILURES_FILE)
    done = store.load()
    if store.ignored_partial:
        console.print("[yellow]warning:[/yellow] trials.jsonl ended in a partial line (interrupted write); that trial runs again")
    if store.bad_lines:
        console.print(f"[yellow]warning:[/yellow] trials.jsonl lines {store.bad_lines} are not valid JSON rows; ignored")
    result = SweepResult(run_dir, plan)
    pending = [t for t in plan.trials if t.key not in done]
    result.skipped = [t.key for t in plan.trials if t.key in done]
    if max_trials is not None:
        pending = pending[:max_trials]
    if result.skipped:
        console.print(f"resuming {run_dir}: {len(result.skipped)} of {len(plan.trials)} trials already finished", highlight=False)

    # Synthetic sets: generate each once (wave 1), then filter (wave 2), only for trials still to run.
    needed = {t.synthetic_key for t in pending if t.synthetic_key}
    specs = [dataclasses.replace(s, run_dir=str(run_dir.resolve())) for s in plan.synthetic if s.key in needed]
    missing = [s for s in specs if not synthetic_path(run_dir, s.key).exists()]
    set_errors: dict[str, str] = {}
    if missing:
        raw_first: dict[str, SyntheticSpec] = {}
        for spec in missing:
            if not synthetic_path(run_dir, spec.generation_key).exists():
                raw = (
                    spec
                    if spec.filter == "off"
                    else dataclasses.replace(spec, key=spec.generation_key, filter="off", filter_config=None)
                )
                raw_first.setdefault(spec.generation_key, raw)
        filtered = [s for s in missing if s.filter != "off"]
        waves = [list(raw_first.values()), filtered]
        total = sum(len(w) for w in waves)
        console.print(
            f"synthetic sets: {total} to make ({len(raw_first)} generations, {len(filtered)} filterings)", highlight=False
        )
        with progress() as bars:
            bar = bars.add_task("synthetic sets", total=total, rate="", visible=show_progress)
            for wave in waves:
                wave = [s for s in wave if s.generation_key not in set_errors]
                for outcome in executor.map(synthetic_fn, wave):
                    spec = outcome.task
                    if outcome.error:
                        set_errors[spec.generation_key if spec.filter == "off" else spec.key] = outcome.error
                        console.print(f"[red]synthetic set {spec.key} failed:[/red] {outcome.error}", highlight=False)
                    else:
                        result.synthetic_made.append(spec.key)
                    bars.advance(bar)
    runnable = []
    for trial in pending:
        spec = next((s for s in specs if s.key == trial.synthetic_key), None)
        error = None
        if spec is not None:
            error = set_errors.get(spec.generation_key) or set_errors.get(spec.key)
        if error:
            result.failed[trial.key] = f"synthetic set failed: {error}"
            failures.append({"key": trial.key, "params": trial.params, "error": result.failed[trial.key], "at": _now()})
        else:
            runnable.append(trial)

    if runnable:
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
    result.seconds = time.perf_counter() - start
    return result


def check_plan_size(plan: SweepPlan, limit: int = 10_000) -> None:
    if len(plan.trials) > limit:
        raise SynthgradeError(f"the sweep has {len(plan.trials)} trials (over {limit}); shorten one of its lists")
