"""``sweep``, ``report``, ``presets`` and ``demo``: the paper's experiments as resumable sweeps, and their report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from synthgrade.commands.options import CpusPerTrial, GpusPerTrial, RayAddress
from synthgrade.console import stdout
from synthgrade.errors import SynthgradeError


def headline_table(report) -> Table:
    from synthgrade.report import HEADLINE_HEADERS, headline_rows
    from synthgrade.report.plots import PRETTY

    table = Table(*HEADLINE_HEADERS, title=f"teacher {PRETTY.get(report.metric, report.metric)} on the human test split")
    for row in headline_rows(report.headline):
        table.add_row(*row)
    return table


def print_plan(plan, run_dir: Path | None) -> None:
    from synthgrade.experiment import ResultsStore
    from synthgrade.experiment.layout import SweepLayout
    from synthgrade.experiment.sweep import format_seconds

    layout = SweepLayout(run_dir) if run_dir else None
    done = set(ResultsStore(layout.trials).load()) if layout and layout.trials.exists() else set()
    table = Table("trial", "budget", "seed", "share", "temp.", "filter", "synthetic set", "est. time", "status")
    for column in (table.columns[0], table.columns[6]):
        column.overflow = "fold"
        column.min_width = 8
    for trial in plan.trials:
        p = trial.params
        table.add_row(
            trial.key,
            str(p["human_budget"]),
            str(p["seed"]),
            f"{p['ratio']:.0%}",
            "-" if p["temperature"] is None else str(p["temperature"]),
            p["filter"] or "-",
            trial.synthetic_key or "-",
            format_seconds(trial.estimated_s),
            "done" if trial.key in done else "to run",
        )
    stdout.print(table)
    sets = Table("synthetic set", "temp.", "seed", "budget", "filter", "per label", "est. time", "status")
    sets.columns[0].overflow = "fold"
    for spec in plan.synthetic:
        exists = layout is not None and layout.synthetic(spec.key).exists()
        sets.add_row(
            spec.key,
            str(spec.temperature),
            str(spec.seed),
            str(spec.human_budget),
            spec.filter,
            str(spec.generation.get("per_label")),
            format_seconds(spec.estimated_s),
            "made" if exists else "to make",
        )
    if plan.synthetic:
        stdout.print(sets)
    pending = [t for t in plan.trials if t.key not in done]
    data = plan.data
    stdout.print(
        f"{len(plan.trials)} trials ({len(pending)} to run), {len(plan.synthetic)} synthetic sets; "
        f"data: {data.train_rows} train / {data.val_rows} val / {data.test_rows} test rows, labels {', '.join(data.labels)}; "
        f"estimated {format_seconds(plan.estimated_s)} on a 2-core CPU "
        "(rough: MiniLM ~12 samples/s, local generation ~60 tokens/s)",
        highlight=False,
    )
    for note in plan.notes:
        stdout.print(f"note: {note}", highlight=False)


def sweep(
    config: Annotated[str, typer.Argument(help="Sweep YAML file, or a preset name (see `synthgrade presets`).")],
    out: Annotated[Path, typer.Option("--out", help="Run directory; rerunning into it skips finished trials.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Use this human-coded file instead of the config's data.path.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the trials and their estimated cost; run nothing.")] = False,
    workers: Annotated[int, typer.Option(help="Trials run in parallel local processes (1 = in this process).")] = 1,
    executor_name: Annotated[
        str, typer.Option("--executor", help="Where trials run: local (this machine; see --workers), process or ray.")
    ] = "local",
    address: RayAddress = None,
    cpus_per_task: CpusPerTrial = 1.0,
    gpus_per_task: GpusPerTrial = None,
    max_trials: Annotated[int | None, typer.Option("--max-trials", help="Run at most this many of the missing trials.")] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write the HTML report when the sweep ends.")] = True,
) -> None:
    """Run a sweep (the cross product of its axes) as resumable trials, then write its report."""
    from synthgrade.executors.engines import ExecutorOptions, make_executor
    from synthgrade.experiment import plan_sweep, run_sweep
    from synthgrade.presets import load_config_or_preset

    executor = make_executor(executor_name, ExecutorOptions(workers, address, cpus_per_task, gpus_per_task))
    sweep_config = load_config_or_preset(config, data)
    if dry_run:
        print_plan(plan_sweep(sweep_config, out), out)
        return
    result = run_sweep(sweep_config, out, executor=executor, max_trials=max_trials)
    from synthgrade.experiment.layout import SweepLayout
    from synthgrade.experiment.sweep import format_seconds

    stdout.print(
        f"{len(result.ran)} trials run, {len(result.skipped)} already done, {len(result.failed)} failed "
        f"in {format_seconds(result.seconds)}; results in {SweepLayout(out).trials}",
        highlight=False,
    )
    if report and (result.ran or result.skipped):
        from synthgrade.report import write_report

        written = write_report(out)
        stdout.print(headline_table(written))
        stdout.print(f"report: {written.path}", highlight=False)
    if result.failed:
        raise SynthgradeError(
            f"{len(result.failed)} trials failed (listed in {out / 'failures.jsonl'}); rerun the same command to retry them"
        )


def report(
    run_dir: Annotated[Path, typer.Argument(help="A sweep run directory (holding trials.jsonl).")],
    out: Annotated[Path | None, typer.Option("--out", help="Report folder (default RUN_DIR/report).")] = None,
    metric: Annotated[str | None, typer.Option(help="accuracy, macro_f1, kappa, qwk or auc (default: the sweep's).")] = None,
) -> None:
    """Write the results table, plots and a self-contained index.html for a sweep run directory."""
    from synthgrade.report import write_report

    written = write_report(run_dir, out, metric)
    stdout.print(headline_table(written))
    stdout.print(f"{written.trials} trials; report: {written.path}", highlight=False)


def presets(
    name: Annotated[str | None, typer.Argument(help="Print this preset's YAML (copy it and set data.path).")] = None,
) -> None:
    """List the shipped sweep presets (the paper's experiments), or print one."""
    from synthgrade.presets import list_presets, preset_path

    if name:
        stdout.print(preset_path(name).read_text(encoding="utf-8"), highlight=False, markup=False)
        return
    table = Table("preset", "description")
    for entry in list_presets():
        table.add_row(entry["name"], entry["description"])
    stdout.print(table)
    stdout.print("run one with: synthgrade sweep PRESET --data YOUR_FILE.csv --out runs/NAME", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(sweep)
    app.command()(report)
    app.command()(presets)
