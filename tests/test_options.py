"""The shared ``--*-col`` options reach a command as one ColumnMap, from the CLI and from Python."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from synthgrade.commands.options import column_options
from synthgrade.data import ColumnMap


def _app(command) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    app.command("noop", hidden=True)(lambda: None)  # two commands, so typer keeps the command name
    return app


def test_column_options_fold_into_one_column_map() -> None:
    seen: list[ColumnMap] = []

    @column_options()
    def show(path: str, columns: ColumnMap = ColumnMap(), flag: bool = False) -> None:
        seen.append(columns)

    result = CliRunner().invoke(_app(show), ["show", "x.csv", "--text-col", "answer", "--id-col", "answer_id"])
    assert result.exit_code == 0, result.output
    assert seen[-1] == ColumnMap(text="answer", id="answer_id")
    show("x.csv", label_col="score")  # Python callers may name any subset
    assert seen[-1] == ColumnMap(label="score")


def test_column_options_offer_only_the_named_columns() -> None:
    seen: list[ColumnMap] = []

    @column_options("text_col", "item_col")
    def show(columns: ColumnMap = ColumnMap()) -> None:
        seen.append(columns)

    app = _app(show)
    assert CliRunner().invoke(app, ["show", "--item-col", "question"]).exit_code == 0
    assert seen[-1] == ColumnMap(item_id="question")
    refused = CliRunner().invoke(app, ["show", "--label-col", "score"])
    assert refused.exit_code == 2 and len(seen) == 1
