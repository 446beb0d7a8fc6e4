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


def test_parameter_errors_name_the_flag_of_the_invoked_command() -> None:
    from synthgrade.cli import flag_for
    from synthgrade.errors import ParameterError

    error = ParameterError("synthetic_weight", "must be positive, got 0")
    assert str(error) == "synthetic_weight must be positive, got 0"  # what a Python caller reads
    assert flag_for("synthetic_weight", ["train", "--human", "h.csv"]) == "--synthetic-weight"
    assert flag_for("cpus_per_task", ["sweep", "run"]) == "--cpus-per-trial"  # the library's name, the command's flag
    assert flag_for("no_such_param", ["sweep"]) == "--no-such-param"  # no such option: the dashed name
    assert flag_for("human", ["train"]) == "--human"


def test_cli_prints_the_flag_for_a_bad_parameter(tmp_path, cli) -> None:
    human = tmp_path / "h.csv"
    human.write_text("text,label\n" + "".join(f"answer {i},{'ab'[i % 2]}\n" for i in range(8)))
    val = tmp_path / "v.csv"
    val.write_text("text,label\nanswer x,a\nanswer y,b\n")
    args = ("train", "--human", str(human), "--val", str(val), "--out", str(tmp_path / "m"))
    result = cli(*args, "--synthetic-weight", "0", "--model", "tfidf")
    assert result.returncode == 2
    assert "--synthetic-weight must be positive, got 0" in result.stdout + result.stderr
    assert not (tmp_path / "m").exists()


def test_cli_usage_errors_are_one_line_without_traceback(tmp_path, cli) -> None:
    result = cli("train", "--human", str(tmp_path / "h.csv"), "--out", str(tmp_path / "m"))
    assert result.returncode == 2
    assert "Missing" in result.stderr and "--val" in result.stderr
    assert "Traceback" not in result.stderr
