"""Shared rich console and progress bars, so every stage reports progress the same way."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Progress, warnings and errors go to stderr; results (tables, paths) go to ``stdout``.
#: ``soft_wrap`` keeps each message on one line whatever the terminal width: rich would otherwise
#: hard-wrap at 80 columns when output is piped, splitting one-line errors and paths in logs.
console = Console(stderr=True, soft_wrap=True)
stdout = Console(soft_wrap=True)


def progress(transient: bool = False) -> Progress:
    """A progress bar with count, elapsed time and ETA; ``fields['rate']`` shows a throughput text."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )
