"""Options shared by several commands (column mapping, labels), declared once."""

from __future__ import annotations

from typing import Annotated

import typer

from synthgrade.data import ColumnMap, parse_label_list
from synthgrade.errors import SynthgradeError

TextCol = Annotated[str, typer.Option("--text-col", help="Column holding the response text.")]
LabelCol = Annotated[str, typer.Option("--label-col", help="Column holding the human-coded label.")]
ItemCol = Annotated[str, typer.Option("--item-col", help="Column holding the item (question/prompt) id.")]
ItemTextCol = Annotated[str, typer.Option("--item-text-col", help="Column holding the item's wording.")]
ReferenceCol = Annotated[str, typer.Option("--reference-col", help="Column holding the reference answer or rubric.")]
IdCol = Annotated[str, typer.Option("--id-col", help="Column holding a row id.")]
Labels = Annotated[
    str | None,
    typer.Option("--labels", help="Allowed labels, comma-separated, in order (the order is the ordinal scale)."),
]


def column_map(text: str, label: str, item: str, item_text: str, reference: str, id_: str) -> ColumnMap:
    return ColumnMap(text=text, label=label, id=id_, item_id=item, item_text=item_text, reference=reference)


def labels_option(spec: str | None) -> list[str] | None:
    try:
        return parse_label_list(spec)
    except ValueError as exc:
        raise SynthgradeError(str(exc)) from None
