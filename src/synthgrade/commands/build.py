"""``build``: the one command a user runs on their human-coded file (split, human-only, augment, decide, distill, report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from synthgrade.commands.options import (
    CpusPerTrial,
    GpusPerTrial,
    Labels,
    Overwrite,
    RayAddress,
    column_options,
)
from synthgrade.console import stdout
from synthgrade.data import ColumnMap, parse_label_list
from synthgrade.errors import ParameterError, SynthgradeError

#: BuildConfig fields whose build parameter has another name.
BUILD_PARAMETERS = {"val": "val_share", "test": "test_share", "filter": "filter_mode"}


def _floats(text: str, option: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SynthgradeError(f"{option} takes comma-separated numbers, got {text!r}") from None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@column_options()
def build(
    data: Annotated[Path, typer.Argument(help="Human-coded responses (CSV, TSV, JSONL, Parquet or a SemEval XML folder).")],
    out: Annotated[Path, typer.Option("--out", help="Build folder: model/, student/, report/index.html, build.json.")],
    test: Annotated[
        Path | None, typer.Option("--test", help="A held-out human-coded test file (else --test-share of DATA is set aside).")
    ] = None,
    model: Annotated[
        str, typer.Option(help="Scorer: auto (best candidate on validation), hybrid[:encoder], tfidf, ...")
    ] = "auto",
    generator: Annotated[str | None, typer.Option(help="Generator model (registry name, path, hub id, or API model).")] = None,
    backend: Annotated[str | None, typer.Option(help="Generation backend (default: the generate stage's).")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible server for the openai backend.")] = None,
    api_key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="Environment variable holding the --base-url server's key.")
    ] = None,
    request_timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds one generation request may take before it is retried.")
    ] = 120.0,
    strategies: Annotated[
        str, typer.Option("--strategies", help="Augmentation strategies, comma-separated: generate, paraphrase, contrast.")
    ] = "paraphrase,contrast",
    temperatures: Annotated[str, typer.Option("--temperatures", help="Generation temperatures, comma-separated.")] = "0.3",
    shares: Annotated[
        str, typer.Option("--shares", help="Synthetic shares of the training rows to try, comma-separated.")
    ] = "0.5,0.8",
    weights: Annotated[str, typer.Option("--weights", help="Synthetic row weights to try, comma-separated.")] = "0.5,1",
    filter_mode: Annotated[
        str, typer.Option("--filter", help="classifier (keep rows the human-only scorer supports) or off.")
    ] = "classifier",
    min_confidence: Annotated[
        float, typer.Option("--min-confidence", help="Filter: probability of the intended label the scorer must give.")
    ] = 0.5,
    unlabeled: Annotated[
        Path | None,
        typer.Option(
            "--unlabeled",
            help="Uncoded responses: a self-training arm in the grid (judged by the same rule) and the student's transfer rows.",
        ),
    ] = None,
    margin: Annotated[float, typer.Option(help="Ship synthetic data only if its supported validation gain exceeds this.")] = 0.0,
    student: Annotated[str, typer.Option(help="Student: auto, none, static, or an encoder (hybrid student).")] = "auto",
    time_budget: Annotated[float, typer.Option("--time-budget", help="Minutes for generation and the grid.")] = 15.0,
    val_share: Annotated[float, typer.Option("--val-share", help="Share of DATA for validation (selection only).")] = 0.2,
    test_share: Annotated[float, typer.Option("--test-share", help="Share of DATA set aside as test rows.")] = 0.2,
    split_by: Annotated[str, typer.Option("--split-by", help="answer (every item in every split) or item.")] = "answer",
    seed: Annotated[int, typer.Option(help="Random seed (split, generation, training, bootstrap).")] = 0,
    workers: Annotated[int, typer.Option(help="Grid cells trained in parallel local processes (1 = in this process).")] = 1,
    executor_name: Annotated[
        str, typer.Option("--executor", help="Where grid cells train: local (see --workers), process or ray.")
    ] = "local",
    address: RayAddress = None,
    cpus_per_task: CpusPerTrial = 1.0,
    gpus_per_task: GpusPerTrial = None,
    overwrite: Overwrite = False,
    columns: ColumnMap = ColumnMap(),
    labels: Labels = None,
) -> None:
    """Build a scorer from human-coded data; ship synthetic data only where it beats human-only on validation."""
    from synthgrade.build import BuildConfig, run_build

    settings: dict[str, Any] = {
        "labels": parse_label_list(labels),
        "split_by": split_by,
        "val": val_share,
        "test": 0.0 if test is not None else test_share,
        "seed": seed,
        "model": model,
        "backend": backend,
        "base_url": base_url,
        "api_key_env": api_key_env,
        "request_timeout": request_timeout,
        "strategies": _names(strategies),
        "temperatures": _floats(temperatures, "--temperatures"),
        "shares": _floats(shares, "--shares"),
        "weights": _floats(weights, "--weights"),
        "filter": filter_mode,
        "min_confidence": min_confidence,
        "margin": margin,
        "unlabeled": str(unlabeled) if unlabeled is not None else None,
        "student": student,
        "time_budget": time_budget,
    }
    if generator:
        settings["generator"] = generator
    try:
        config = BuildConfig(**settings)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "settings"
        # The CLI names the flag (ParameterError): --val-share, not the config field "val".
        raise ParameterError(BUILD_PARAMETERS.get(field, field), error["msg"]) from None
    from synthgrade.executors.engines import ExecutorOptions, make_executor

    executor = make_executor(executor_name, ExecutorOptions(workers, address, cpus_per_task, gpus_per_task))
    result = run_build(data, out, config, columns=columns, test=test, overwrite=overwrite, executor=executor)
    stdout.print(result.verdict, highlight=False)
    stdout.print(f"model: {result.out / 'model'}\nreport: {result.report}", highlight=False)


def demo(
    out: Annotated[Path, typer.Option("--out", help="Build folder for the demo.")] = Path("runs/demo"),
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over (the generation cache is kept).")] = False,
) -> None:
    """The whole job on the built-in example set: synthgrade build with the offline defaults, report included."""
    from synthgrade.demo import run_demo

    result = run_demo(out, fresh=fresh)
    stdout.print(result.verdict, highlight=False)
    stdout.print(f"model: {result.out / 'model'}\nreport: {result.report}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(build)
    app.command()(demo)
