"""The ``synthgrade`` command line: parses arguments and calls the library, nothing more.

Each stage keeps its commands in ``synthgrade/commands/<stage>.py``; this file only assembles them
and turns :class:`SynthgradeError` into a one-line message and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from synthgrade.commands import build as build_commands
from synthgrade.commands import code as code_commands
from synthgrade.commands import data as data_commands
from synthgrade.commands import experiment as experiment_commands
from synthgrade.commands import generate as generate_commands
from synthgrade.commands import select as select_commands
from synthgrade.commands import serve as serve_commands
from synthgrade.commands import train as train_commands
from synthgrade.console import console
from synthgrade.errors import ParameterError, SynthgradeError

app = typer.Typer(
    name="synthgrade",
    help="Train cheap, reliable scorers for open responses from a small human-coded set plus LLM-generated data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (data_commands, generate_commands, train_commands, serve_commands, experiment_commands, build_commands):
    module.register(app)
select_commands.register(app)
code_commands.register(app)


def flag_for(param: str, argv: list[str]) -> str:
    """The flag of the invoked command that sets library parameter ``param`` (``--param-name`` if none does)."""
    command = typer.main.get_command(app)
    for word in argv:
        subcommands = getattr(command, "commands", {})
        if word not in subcommands:
            break
        command = subcommands[word]
    for option in getattr(command, "params", []):
        if option.name == param and option.param_type_name == "option":
            return max(option.opts, key=len)
    return "--" + param.replace("_", "-")


def main() -> None:
    """Console-script entry point."""
    try:
        app(standalone_mode=False)
    except SynthgradeError as exc:
        if isinstance(exc, ParameterError):
            exc = SynthgradeError(f"{flag_for(exc.param, sys.argv[1:])} {exc.problem}")
        problems = exc.problems or [str(exc)]
        for line in problems:
            console.print(f"[red]error:[/red] {line}", highlight=False)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        console.print("[red]aborted[/red]")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click's usage errors (vendored by typer >= 0.22) carry their own exit code and message
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
