"""``generate`` and ``filter``: synthetic responses from an LLM, and consistency filtering of them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from synthgrade.commands.options import Labels, Overwrite, column_options
from synthgrade.console import stdout
from synthgrade.data import ColumnMap, load_responses, parse_label_list
from synthgrade.data.readers import WRITE_SUFFIXES
from synthgrade.errors import SynthgradeError
from synthgrade.io import check_outputs

Backend = Annotated[
    str,
    typer.Option(
        "--backend",
        help="auto (llamacpp when llama-cpp-python is installed and the model is a GGUF, else local), local "
        "(transformers, in process), llamacpp (llama-cpp-python, in process, ~3x faster on CPU), openai (any "
        "compatible server) or openai-batch (OpenAI's Batch API: half price, answers within 24 h).",
    ),
]
Fallback = Annotated[
    str,
    typer.Option(
        "--fallback", help="openai-batch: requests a batch misses go to a follow-up batch (batch), live calls (live) or none."
    ),
]
BatchPoll = Annotated[float, typer.Option("--batch-poll", help="openai-batch: seconds between status checks.")]
BatchWait = Annotated[
    float | None,
    typer.Option("--batch-wait", help="openai-batch: stop waiting after this many seconds; rerun to resume the same batch."),
]
BaseUrl = Annotated[
    str | None, typer.Option("--base-url", help="OpenAI-compatible server URL (vLLM, Ollama, llama.cpp server, Azure...).")
]
ApiKeyEnv = Annotated[
    str | None,
    typer.Option(
        "--api-key-env",
        help="Environment variable holding the key for --base-url (OPENAI_API_KEY goes to OpenAI's own API only).",
    ),
]
CacheDir = Annotated[
    Path | None, typer.Option("--cache", help="Call cache folder (default: $SYNTHGRADE_CACHE or the user cache folder).")
]
Concurrency = Annotated[int, typer.Option("--concurrency", help="Requests in flight at once (openai backend).")]
MaxRequests = Annotated[
    int | None, typer.Option("--max-requests", help="Hard budget of model calls; stops cleanly when reached.")
]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="No progress bars.")]
RequestTimeout = Annotated[
    float, typer.Option("--timeout", help="Seconds one model request may take before it is retried (openai backend).")
]


#: Config fields whose option name is not the field name.
OPTION_NAMES = {"batch.fallback": "fallback", "batch.poll_interval": "batch-poll", "batch.max_wait": "batch-wait"}


def _config_error(exc: ValidationError) -> SynthgradeError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "option"
    return SynthgradeError(f"--{OPTION_NAMES.get(where, where.replace('_', '-'))}: {first['msg']}")


def print_batch_summary(calls: dict) -> None:
    """Batch jobs and what they cost (at batch prices), for the openai-batch backend."""
    batch = calls.get("batch")
    if not batch:
        return
    for job in batch["jobs"]:
        stdout.print(
            f"batch {job['id']}: {job['status']}, {job.get('answered', 0)} of {job['requests']} answered", highlight=False
        )
    if batch["live_fallback_calls"]:
        stdout.print(f"{batch['live_fallback_calls']} requests answered by live calls (--fallback live)", highlight=False)
    cost = calls["cost"]["usd_this_run"]
    if cost is not None:
        stdout.print(f"cost this run: ${cost:.4f} (batch price, half the list price; live fallback calls at list price)")


@column_options()
def generate(
    train: Annotated[Path, typer.Argument(help="Human-coded TRAINING split (never validation or test).")],
    out: Annotated[Path, typer.Option("--out", help="Output .jsonl or .parquet; the summary goes to <name>.summary.json.")],
    backend: Backend = "auto",
    model: Annotated[str | None, typer.Option("--model", help="Generator: registry name, GGUF path or server model id.")] = None,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy",
            help="generate (new responses from examples), paraphrase (reword one human response, label kept) or "
            "contrast (rewrite a human response so it earns another label); repeat for several, --per-label rows each.",
        ),
    ] = None,
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = None,
    temperature: Annotated[
        float, typer.Option("--temperature", help="Sampling temperature (the paper found 0.3 most stable).")
    ] = 0.3,
    top_p: Annotated[float, typer.Option("--top-p", help="Nucleus sampling mass.")] = 1.0,
    per_label: Annotated[int, typer.Option("--per-label", help="Kept responses per label (per item and label with items).")] = 10,
    per_call: Annotated[int, typer.Option("--per-call", help="Responses asked for in one call.")] = 5,
    examples: Annotated[int, typer.Option("--examples", help="Human examples shown per prompt, drawn per call with --seed.")] = 5,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Completion token limit per call.")] = 256,
    concurrency: Concurrency = 4,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Prompts generated together by the local backend.")] = 8,
    max_requests: MaxRequests = None,
    fallback: Fallback = "batch",
    batch_poll: BatchPoll = 30.0,
    batch_wait: BatchWait = None,
    max_rounds: Annotated[
        int, typer.Option("--max-rounds", help="Call rounds; later ones top up groups short of --per-label.")
    ] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed for example draws and sampling.")] = 0,
    cache: CacheDir = None,
    exclude: Annotated[
        list[Path] | None, typer.Option("--exclude", help="Validation/test files for the leakage guard (repeatable).")
    ] = None,
    prompt: Annotated[Path | None, typer.Option("--prompt", help="Prompt template file overriding the default.")] = None,
    embedder: Annotated[
        str, typer.Option("--embedder", help="Sentence encoder for similarity checks; 'none' = exact only.")
    ] = "minilm-l6",
    near_duplicate: Annotated[
        float, typer.Option("--near-duplicate", help="Cosine above which rows are near-duplicates.")
    ] = 0.92,
    leakage_threshold: Annotated[
        float, typer.Option("--leakage-threshold", help="Cosine to an --exclude row that drops a row.")
    ] = 0.9,
    min_chars: Annotated[int, typer.Option("--min-chars", help="Shortest response kept.")] = 3,
    max_chars: Annotated[int, typer.Option("--max-chars", help="Longest response kept.")] = 600,
    columns: ColumnMap = ColumnMap(),
    labels: Labels = None,
    no_progress: NoProgress = False,
    timeout: RequestTimeout = 120.0,
    overwrite: Overwrite = False,
) -> None:
    """Write synthetic responses per label (and item) with provenance, cached and resumable."""
    from synthgrade.generate import GenerationConfig, generate_synthetic, summary_path, write_synthetic
    from synthgrade.generate.config import RetryPolicy
    from synthgrade.generate.strategies import DEFAULT_STRATEGY, check_strategy_names
    from synthgrade.generate.summary import failed_generation
    from synthgrade.io import redact_url
    from synthgrade.models import DEFAULT_GENERATOR

    check_outputs([out, summary_path(out)], [train, *(exclude or []), prompt], overwrite)  # first: inputs are never touched
    if out.suffix.lower() not in WRITE_SUFFIXES:
        raise SynthgradeError(f"{out}: --out must end in .jsonl or .parquet (or .csv/.tsv)")
    strategies = check_strategy_names(strategy or [DEFAULT_STRATEGY])
    if prompt is not None and len(strategies) > 1:
        raise SynthgradeError("--prompt replaces one strategy's template: give a single --strategy with it")
    if backend == "openai" and model is None:
        raise SynthgradeError("--backend openai needs --model (e.g. gpt-4o, or the model id your server serves)")
    try:
        config = GenerationConfig(
            batch={"fallback": fallback, "poll_interval": batch_poll, "max_wait": batch_wait},
            backend=backend,
            model=model or DEFAULT_GENERATOR,
            strategy=strategies,
            base_url=base_url,
            api_key_env=api_key_env,
            temperature=temperature,
            top_p=top_p,
            per_label=per_label,
            per_call=per_call,
            examples=examples,
            max_tokens=max_tokens,
            concurrency=concurrency,
            batch_size=batch_size,
            max_requests=max_requests,
            max_rounds=max_rounds,
            seed=seed,
            prompt=prompt,
            embedder=None if embedder.lower() == "none" else embedder,
            near_duplicate=near_duplicate,
            leakage_threshold=leakage_threshold,
            min_chars=min_chars,
            max_chars=max_chars,
            retry=RetryPolicy(timeout=timeout),
        )
    except ValidationError as exc:
        raise _config_error(exc) from None
    if backend == "openai-batch" and model is None:
        raise SynthgradeError("--backend openai-batch needs --model (e.g. gpt-4o)")
    declared = parse_label_list(labels)
    train_frame = load_responses(train, columns, declared)
    excluded = [load_responses(p, columns, None, require_label=False) for p in exclude or []]
    result = generate_synthetic(train_frame, config, excluded, cache, show_progress=not no_progress)
    failed = failed_generation(result.summary)
    if failed:  # an empty file and exit 0 would look like success
        raise SynthgradeError(f"{redact_url(base_url) if base_url else config.backend}: {failed}")
    write_synthetic(result, out)
    print_generation_summary(result.summary)
    stdout.print(f"wrote {out} and {summary_path(out)}", highlight=False)


def print_generation_summary(summary: dict) -> None:
    """Rows asked for, made, kept and removed (per strategy when there are several), calls and tokens."""
    table = Table("requested", "generated", "kept", "removed", "cache hits", "model calls", "failed", "tokens")
    calls = summary["calls"]
    table.add_row(
        str(summary["requested"]),
        str(summary["generated"]),
        str(summary["kept"]),
        str(summary["removed_total"]),
        str(summary["cache_hits"]),
        str(summary["model_calls"]),
        str(calls["failed"]),
        f"{calls['tokens']['prompt'] + calls['tokens']['completion']:,}",
    )
    stdout.print(table)
    if len(summary["by_strategy"]) > 1:
        by_strategy = Table("strategy", "requested", "generated", "kept", "removed")
        for name, counts in summary["by_strategy"].items():
            by_strategy.add_row(name, *(str(counts[k]) for k in ("requested", "generated", "kept", "removed_total")))
        stdout.print(by_strategy)
    reasons = ", ".join(f"{k} {v}" for k, v in summary["removed"].items() if v)
    if reasons:
        stdout.print(f"removed: {reasons}", highlight=False)
    print_batch_summary(calls)
    if summary["budget_exhausted"]:
        stdout.print(f"[yellow]--max-requests reached: {calls['skipped_budget']} calls not made[/yellow]")


def filter_command(
    synthetic: Annotated[Path, typer.Argument(help="Synthetic rows written by `synthgrade generate`.")],
    out: Annotated[Path, typer.Option("--out", help="Output file for the kept (or, with --keep all, annotated) rows.")],
    method: Annotated[
        list[str] | None,
        typer.Option("--method", help="llm, neighbours or classifier (or classifier:MODEL_DIR); repeat to chain."),
    ] = None,
    human: Annotated[
        Path | None, typer.Option("--human", help="Human-coded training file (neighbours; grading examples).")
    ] = None,
    classifier: Annotated[
        Path | None, typer.Option("--classifier", help="Trained model directory for --method classifier.")
    ] = None,
    backend: Backend = "local",
    model: Annotated[str | None, typer.Option("--model", help="Grader LLM for --method llm.")] = None,
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = None,
    votes: Annotated[int, typer.Option("--votes", help="Grading samples per row (majority vote).")] = 1,
    temperature: Annotated[
        float | None, typer.Option("--temperature", help="Grader temperature (default 0, or 0.7 with votes).")
    ] = None,
    examples: Annotated[int, typer.Option("--examples", help="Scored human examples per label shown to the grader.")] = 2,
    keep: Annotated[str, typer.Option("--keep", help="consistent (drop rows that fail) or all (annotate only).")] = "consistent",
    k: Annotated[int, typer.Option("-k", "--k", help="Neighbours for --method neighbours.")] = 5,
    embedder: Annotated[str, typer.Option("--embedder", help="Sentence encoder for --method neighbours.")] = "minilm-l6",
    min_confidence: Annotated[
        float, typer.Option("--min-confidence", help="Classifier probability of the intended label needed.")
    ] = 0.0,
    prompt: Annotated[Path | None, typer.Option("--prompt", help="Grading prompt template overriding the default.")] = None,
    concurrency: Concurrency = 4,
    max_requests: MaxRequests = None,
    fallback: Fallback = "batch",
    batch_poll: BatchPoll = 30.0,
    batch_wait: BatchWait = None,
    cache: CacheDir = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    no_progress: NoProgress = False,
    timeout: RequestTimeout = 120.0,
    overwrite: Overwrite = False,
) -> None:
    """Keep synthetic rows whose label an LLM re-grader, human neighbours or a classifier agree with."""
    from synthgrade.filter import FilterConfig, filter_synthetic
    from synthgrade.generate import summary_path
    from synthgrade.generate.config import RetryPolicy

    check_outputs([out, summary_path(out)], [synthetic, human, classifier, prompt], overwrite)
    methods = method or ["llm"]
    try:
        config = FilterConfig(
            batch={"fallback": fallback, "poll_interval": batch_poll, "max_wait": batch_wait},
            method=methods,
            votes=votes,
            keep=keep,
            k=k,
            backend=backend,
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            temperature=temperature,
            examples=examples,
            classifier=str(classifier) if classifier else None,
            embedder=embedder,
            min_confidence=min_confidence,
            prompt=prompt,
            concurrency=concurrency,
            max_requests=max_requests,
            seed=seed,
            retry=RetryPolicy(timeout=timeout),
        )
    except ValidationError as exc:
        raise _config_error(exc) from None
    frame = load_responses(synthetic)
    human_frame = load_responses(human) if human else None
    result = filter_synthetic(frame, config, human_frame, cache, show_progress=not no_progress)
    from synthgrade.data import write_table
    from synthgrade.io import write_json

    write_table(result.frame, out)
    write_json(summary_path(out), result.summary)
    table = Table("step", "in", "kept", "dropped", "agreement", "kappa")
    for step in result.summary["steps"]:
        agreement = step.get("agreement")
        kappa = step.get("kappa")
        table.add_row(
            step["method"],
            str(step["rows_in"]),
            str(step["kept"]),
            str(step["dropped"]),
            f"{agreement:.3f}" if agreement is not None else "-",
            f"{kappa:.3f}" if kappa is not None else "-",
        )
    stdout.print(table)
    stdout.print(f"wrote {out} ({len(result.frame)} rows) and {summary_path(out)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(generate)
    app.command("filter")(filter_command)
