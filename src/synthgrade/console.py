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
console = Console(stderr=True)
stdout = Console()


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
