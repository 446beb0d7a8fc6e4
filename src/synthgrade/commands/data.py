"""``validate`` and ``split``: checking and splitting human-coded data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from synthgrade.commands.options import Labels, Overwrite, column_options
from synthgrade.console import console, stdout
from synthgrade.data import (
    DEFAULT_MAX_CHARS,
    ColumnMap,
    load_responses,
    parse_label_list,
    split_responses,
    validate_file,
    write_splits,
)
from synthgrade.errors import SynthgradeError
from synthgrade.io import check_outputs


@column_options()
def validate(
    path: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL or Parquet file, or a SemEval-2013 XML folder.")],
    columns: ColumnMap = ColumnMap(),
    labels: Labels = None,
    max_chars: Annotated[int, typer.Option(help="Texts longer than this are a problem.")] = DEFAULT_MAX_CHARS,
    show_items: Annotated[bool, typer.Option("--show-items", help="List the count for every item.")] = False,
    all_warnings: Annotated[bool, typer.Option("--all-warnings", help="List every warning, not the first 10.")] = False,
) -> None:
    """Check a human-coded file: counts per label and item, and every problem with its row."""
    report = validate_file(path, columns, parse_label_list(labels), max_chars)
    summary = report.summary()
    stdout.print(f"[bold]{escape(str(path))}[/bold]: {summary['rows']:,} responses, {summary['items']:,} items", highlight=False)
    table = Table("label", "responses", "share")
    total = max(1, sum(summary["label_counts"].values()))
    for label, count in summary["label_counts"].items():
        table.add_row(label, f"{count:,}", f"{count / total:.1%}")
    stdout.print(table)
    items = report.item_counts()
    if items:
        sizes = sorted(items.values())
        stdout.print(f"responses per item: min {sizes[0]}, median {sizes[len(sizes) // 2]}, max {sizes[-1]}", highlight=False)
        if show_items or len(items) <= 20:
            item_table = Table("item", "responses")
            for item, count in items.items():
                item_table.add_row(item, str(count))
            stdout.print(item_table)
    shown = report.warnings if all_warnings else report.warnings[:10]
    for warning in shown:
        console.print(f"[yellow]warning:[/yellow] {escape(str(warning))}", highlight=False)
    if len(shown) < len(report.warnings):
        console.print(f"[yellow]... and {len(report.warnings) - len(shown)} more warnings (--all-warnings lists them)[/yellow]")
    if report.errors:
        raise SynthgradeError(f"{len(report.errors)} problems", [str(p) for p in report.errors])
    stdout.print(f"[green]ok[/green]: usable ({len(report.warnings)} warnings)")


@column_options()
def split(
    path: Annotated[Path, typer.Argument(help="Human-coded file or SemEval XML folder.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for train/val/test files and manifest.json.")],
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same split.")] = 0,
    by: Annotated[str, typer.Option("--by", help="'answer': unseen answers of the same items; 'item': unseen items.")] = "answer",
    val: Annotated[float, typer.Option(help="Share of rows for validation.")] = 0.15,
    test: Annotated[float, typer.Option(help="Share of rows for the held-out test split.")] = 0.15,
    fmt: Annotated[str, typer.Option("--format", help="csv, tsv, jsonl or parquet.")] = "csv",
    columns: ColumnMap = ColumnMap(),
    labels: Labels = None,
    max_chars: Annotated[int, typer.Option(help="Texts longer than this are a problem.")] = DEFAULT_MAX_CHARS,
    overwrite: Overwrite = False,
) -> None:
    """Deterministic stratified train / val / test split; the test split holds human rows only."""
    if fmt not in {"csv", "tsv", "jsonl", "parquet"}:
        raise SynthgradeError(f"--format must be csv, tsv, jsonl or parquet, got {fmt!r}")
    check_outputs([out / f"{name}.{fmt}" for name in ("train", "val", "test")] + [out / "manifest.json"], [path], overwrite)
    declared = parse_label_list(labels)
    frame = load_responses(path, columns, declared, max_chars)
    fractions = (1.0 - val - test, val, test)
    splits = split_responses(frame, seed=seed, by=by, fractions=fractions)
    manifest = write_splits(splits, out, seed, by, fractions, source=path, fmt=fmt, labels=declared)
    table = Table("split", "rows", "items", *manifest["labels"])
    for name, info in manifest["splits"].items():
        table.add_row(name, f"{info['rows']:,}", str(info["items"] or "-"), *(str(v) for v in info["label_counts"].values()))
    stdout.print(table)
    stdout.print(f"wrote {out}/ (manifest.json records seed {seed} and content hashes)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(split)
