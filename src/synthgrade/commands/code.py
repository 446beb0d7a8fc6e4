"""``code``: the coding page (code responses in the browser, the model suggesting and choosing)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthgrade.commands.options import Host, Labels, Token, column_options
from synthgrade.console import stdout
from synthgrade.data import ColumnMap
from synthgrade.errors import ParameterError
from synthgrade.models import DEFAULT_ENCODER


@column_options()
def code(
    pool: Annotated[Path, typer.Argument(help="Responses to code (CSV, TSV, JSONL or Parquet; a label column is optional).")],
    out: Annotated[Path, typer.Option("--out", help="Project folder: coding.sqlite, coded.csv, agreement.json, build/.")],
    labels: Labels = None,
    coded: Annotated[
        Path | None, typer.Option("--coded", help="Responses already coded (their labels are imported once).")
    ] = None,
    coder: Annotated[str, typer.Option("--coder", help="Your name: each coder's labels are kept apart.")] = "coder",
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8420,
    token: Token = None,
    double: Annotated[
        float | None,
        typer.Option("--double", help="Share of responses shown to a second coder, blind (set when the project is made)."),
    ] = None,
    min_labels: Annotated[int, typer.Option(help="Coded rows before the model first trains.")] = 10,
    retrain_every: Annotated[int, typer.Option(help="New labels between retrainings.")] = 5,
    strategy: Annotated[
        str | None, typer.Option(help="select strategy for the next responses (default: select's default).")
    ] = None,
    encoder: Annotated[str, typer.Option(help="Encoder of the select strategy (registry name or folder).")] = DEFAULT_ENCODER,
    audit_model: Annotated[str, typer.Option(help="Model of the full suspect audit.")] = f"hybrid:{DEFAULT_ENCODER}",
    build_args: Annotated[
        str, typer.Option(help='Extra options for the Finish button\'s build, e.g. "--model tfidf --student none".')
    ] = "",
    seed: Annotated[int, typer.Option(help="Random seed (order before the model, double-coding share, model).")] = 0,
    columns: ColumnMap = ColumnMap(),
) -> None:
    """Code responses in the browser: one at a time, keyboard shortcuts, the model suggesting and choosing."""
    from synthgrade.coding import LoopSettings, open_project, run_coding_server
    from synthgrade.serve import check_binding

    check_binding(host, token)
    for name, value in (("min_labels", min_labels), ("retrain_every", retrain_every)):
        if value < 1:
            raise ParameterError(name, f"must be at least 1, got {value}")
    store, counts = open_project(pool, out, labels=labels, coded=coded, double=double, seed=seed, columns=columns)
    stdout.print(
        f"{out}: {counts['added']:,} responses added, {counts['imported']:,} labels imported; "
        f"labels {', '.join(store.settings().labels)}",
        highlight=False,
    )
    loop = LoopSettings(min_labels, retrain_every, strategy, encoder, audit_model, seed)
    run_coding_server(out, coder=coder, host=host, port=port, token=token, loop=loop, build_args=build_args)


def register(app: typer.Typer) -> None:
    app.command()(code)
