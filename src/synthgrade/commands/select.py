"""``select`` and ``audit``: which responses to code next, and which coded labels to look at again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthgrade.commands.options import Labels, Overwrite, column_options
from synthgrade.console import stdout
from synthgrade.data import ColumnMap, load_responses, parse_label_list, write_table
from synthgrade.io import check_outputs
from synthgrade.models import DEFAULT_ENCODER
from synthgrade.select import DEFAULT_STRATEGY, STRATEGIES

Encoder = Annotated[str, typer.Option("--encoder", help="Sentence encoder for the embeddings and the guess model.")]
AUDIT_MODEL = f"hybrid:{DEFAULT_ENCODER}"
Seed = Annotated[int, typer.Option(help="Random seed (clustering, ties, folds).")]


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


@column_options()
def select(
    pool: Annotated[Path, typer.Argument(help="Uncoded responses (any format validate reads; a label column is ignored).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the next rows to code (.csv, .tsv, .jsonl, .parquet).")],
    n: Annotated[int, typer.Option("--n", help="How many rows to propose.")],
    coded: Annotated[Path | None, typer.Option("--coded", help="The rows coded so far (never proposed again).")] = None,
    strategy: Annotated[str, typer.Option("--strategy", help=f"Query strategy: {', '.join(STRATEGIES)}.")] = DEFAULT_STRATEGY,
    exclude: Annotated[
        list[Path] | None,
        typer.Option("--exclude", help="Validation/test files: a pool sharing rows with them is refused (repeatable)."),
    ] = None,
    labels: Labels = None,
    encoder: Encoder = DEFAULT_ENCODER,
    seed: Seed = 0,
    overwrite: Overwrite = False,
    columns: ColumnMap = ColumnMap(),
) -> None:
    """Rank the uncoded responses of POOL and write the next N to code, with the reason and the model's guess."""
    from synthgrade.select import select_rows

    check_outputs([out], [pool, coded, *(exclude or [])], overwrite)
    declared = parse_label_list(labels)
    pool_frame = load_responses(pool, columns, None, require_label=False).drop(columns=["label"], errors="ignore")
    coded_frame = load_responses(coded, columns, declared) if coded is not None else None
    excluded = [load_responses(p, columns, None, require_label=False) for p in exclude or []]
    _quiet_transformers()
    chosen = select_rows(
        pool_frame, coded_frame, n, labels=declared, strategy=strategy, encoder=encoder, seed=seed, exclude=excluded
    )
    write_table(chosen, out)
    summary = chosen.attrs["select"]
    aside = ", ".join(f"{count} {reason}" for reason, count in summary["set_aside"].items() if count) or "none"
    model = summary["model"] or "none yet (cold start: representative responses)"
    stdout.print(
        f"wrote {out}: {len(chosen)} of {summary['candidates']} uncoded rows, strategy {strategy}; "
        f"set aside: {aside}; guess model: {model}",
        highlight=False,
    )


@column_options()
def audit(
    coded: Annotated[Path, typer.Argument(help="The coded rows to check.")],
    out: Annotated[Path, typer.Option("--out", help="Every coded row, most likely mislabelled first (.csv, ...).")],
    labels: Labels = None,
    model: Annotated[str, typer.Option("--model", help="Scorer fitted per fold: hybrid:<encoder>.")] = AUDIT_MODEL,
    seed: Seed = 0,
    overwrite: Overwrite = False,
    columns: ColumnMap = ColumnMap(),
) -> None:
    """List coded rows whose label the out-of-fold model contradicts (cleanlab); nothing is relabelled."""
    from synthgrade.select.audit import find_suspects

    check_outputs([out], [coded], overwrite)
    declared = parse_label_list(labels)
    frame = load_responses(coded, columns, declared)
    _quiet_transformers()
    suspects = find_suspects(frame, declared, model=model, seed=seed)
    write_table(suspects, out)
    stdout.print(
        f"wrote {out}: {suspects.attrs['audit']['flagged']} of {len(suspects)} coded rows flagged as likely coding errors "
        "(listed first); review them, nothing was relabelled",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(select)
    app.command()(audit)
