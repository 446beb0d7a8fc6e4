"""The ``synthgrade`` command line: parses arguments and calls the library, nothing more.

Each stage keeps its commands in ``synthgrade/commands/<stage>.py``; this file only assembles them
and turns :class:`SynthgradeError` into a one-line message and exit code 2.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from synthgrade.commands import build as build_commands
from synthgrade.commands import code as code_commands
from synthgrade.commands import data as data_commands
from synthgrade.commands import experiment as experiment_commands
from synthgrade.commands import generate as generate_commands
from synthgrade.commands import select as select_commands
from synthgrade.commands import serve as serve_commands
from synthgrade.commands import train as train_commands
from synthgrade.console import console
from synthgrade.errors import ParameterError, SynthgradeError, interrupt_exit_code, raise_on_signals
from synthgrade.io import redact_url

app = typer.Typer(
    name="synthgrade",
    help="Train cheap, reliable scorers for open responses from a small human-coded set plus LLM-generated data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = (
    data_commands,
    generate_commands,
    train_commands,
    select_commands,
    serve_commands,
    experiment_commands,
    build_commands,
    code_commands,
)
for module in COMMAND_MODULES:
    module.register(app)


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


def _interrupted(exc: BaseException | None = None) -> None:
    console.print("[red]interrupted[/red]", highlight=False)
    sys.exit(interrupt_exit_code(exc))


def main() -> None:
    """Console-script entry point."""
    raise_on_signals()
    try:
        code = app(standalone_mode=False)
    except SynthgradeError as exc:
        if isinstance(exc, ParameterError):
            exc = SynthgradeError(f"{flag_for(exc.param, sys.argv[1:])} {exc.problem}")
        problems = exc.problems or [str(exc)]
        for line in problems:
            # User text (paths, labels, URLs) may hold [brackets] that rich would read as markup and drop;
            # a URL in a message never shows its credentials.
            console.print(f"[red]error:[/red] {escape(redact_url(line))}", highlight=False)
        sys.exit(2)
    except typer.Abort as exc:
        if isinstance(exc.__context__, EOFError) or isinstance(exc.__cause__, EOFError):
            # click turns EOFError (e.g. numpy reading an empty file) into Abort, which is no Ctrl-C.
            console.print("[red]error:[/red] a file ended unexpectedly (empty or damaged input)", highlight=False)
            sys.exit(2)
        _interrupted(exc)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click's usage errors (vendored by typer >= 0.22) carry their own exit code and message
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if isinstance(code, int) and not isinstance(code, bool) and code:
        # typer (standalone_mode=False) returns exit codes instead of exiting: 130 stands for any KeyboardInterrupt.
        if code == 130:
            _interrupted()
        sys.exit(code)


if __name__ == "__main__":
    main()
