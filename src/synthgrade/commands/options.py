"""Options shared by several commands (column mapping, labels), declared once."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from synthgrade.data import ColumnMap

TextCol = Annotated[str, typer.Option("--text-col", help="Column holding the response text.")]
LabelCol = Annotated[str, typer.Option("--label-col", help="Column holding the human-coded label.")]
ItemCol = Annotated[str, typer.Option("--item-col", help="Column holding the item (question/prompt) id.")]
ItemTextCol = Annotated[str, typer.Option("--item-text-col", help="Column holding the item's wording.")]
ReferenceCol = Annotated[str, typer.Option("--reference-col", help="Column holding the reference answer or rubric.")]
IdCol = Annotated[str, typer.Option("--id-col", help="Column holding a row id.")]
Host = Annotated[str, typer.Option(help="Interface to bind; anything but loopback needs --token.")]
Token = Annotated[
    str | None,
    typer.Option(
        envvar="SYNTHGRADE_TOKEN",
        show_envvar=True,
        help=(
            "Token every request must carry (a bearer header; the coding page: open its address with ?token=...). "
            "Prefer the environment variable: arguments show in process lists."
        ),
    ),
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (an output may never be an input).")]
#: Where ``--executor ray`` runs tasks, and what each reserves (sweep trials, build grid cells).
RayAddress = Annotated[
    str | None,
    typer.Option("--address", help="Ray cluster for --executor ray: auto or ray://HEAD:10001 (default: start a local one)."),
]
CpusPerTrial = Annotated[float, typer.Option("--cpus-per-trial", help="CPUs each Ray task reserves.")]
GpusPerTrial = Annotated[
    float | None, typer.Option("--gpus-per-trial", help="GPUs each Ray task reserves (default: 1 when the cluster has GPUs).")
]
Labels = Annotated[
    str | None,
    typer.Option("--labels", help="Allowed labels, comma-separated, in order (the order is the ordinal scale)."),
]


#: parameter name -> (its option, the ColumnMap field it sets; the field's default is the option's)
COLUMN_OPTIONS: dict[str, tuple[Any, str]] = {
    "text_col": (TextCol, "text"),
    "label_col": (LabelCol, "label"),
    "item_col": (ItemCol, "item_id"),
    "item_text_col": (ItemTextCol, "item_text"),
    "reference_col": (ReferenceCol, "reference"),
    "id_col": (IdCol, "id"),
}


def column_options(*only: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the ``--*-col`` options (all six, or the ``only`` named) and pass it one ``columns: ColumnMap``.

    typer has no option groups, so the decorator appends the options to the command's visible signature
    and folds their values into a :class:`ColumnMap` before calling it; columns not offered keep their defaults.
    """
    names = only or tuple(COLUMN_OPTIONS)
    defaults = ColumnMap()

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)  # typer needs the annotations as objects
        kept = [p for p in signature.parameters.values() if p.name != "columns"]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=option, default=getattr(defaults, field))
            for name, (option, field) in COLUMN_OPTIONS.items()
            if name in names
        ]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            chosen = {COLUMN_OPTIONS[name][1]: kwargs.pop(name) for name in names if name in kwargs}
            return command(*args, columns=ColumnMap(**chosen), **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}  # type: ignore[attr-defined]
        return wrapper

    return decorate
