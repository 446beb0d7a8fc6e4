"""The response table: one schema for human-coded and synthetic responses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from synthgrade.errors import ParameterError, SynthgradeError

TEXT, LABEL, ID, ITEM_ID, ITEM_TEXT, REFERENCE = "text", "label", "id", "item_id", "item_text", "reference"
CANONICAL_COLUMNS = (ID, TEXT, LABEL, ITEM_ID, ITEM_TEXT, REFERENCE)
#: Where a row came from ("data.csv line 7", "EM-45b.xml answer EM.45b.110.1"). Never written to disk.
WHERE = "_where"


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be used, and why. ``row``: its position in the table (0-based); ``where``: the location a
    user sees ("data.csv line 7", "responses[2]"); ``str()`` is the one-line message "<where>: <message>"."""

    row: int
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def refuse_rows(problems: Sequence[RowProblem]) -> None:
    """Raise one error naming the first problem row and how many more there are (nothing when ``problems`` is empty)."""
    if problems:
        more = f" (and {len(problems) - 1} more rows)" if len(problems) > 1 else ""
        raise SynthgradeError(f"{problems[0]}{more}", [str(p) for p in problems])


@dataclass(frozen=True)
class ColumnMap:
    """Which source columns hold the canonical fields (the ``--text-col`` ... options)."""

    text: str = TEXT
    label: str = LABEL
    id: str = ID
    item_id: str = ITEM_ID
    item_text: str = ITEM_TEXT
    reference: str = REFERENCE

    def source_to_canonical(self) -> dict[str, str]:
        return {
            self.text: TEXT,
            self.label: LABEL,
            self.id: ID,
            self.item_id: ITEM_ID,
            self.item_text: ITEM_TEXT,
            self.reference: REFERENCE,
        }


def parse_label_list(spec: str | Sequence[str] | None) -> list[str] | None:
    """``"a,b,c"`` -> ``["a", "b", "c"]``; ``None`` stays ``None``. Order matters for ordinal scores."""
    if spec is None:
        return None
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    labels = [str(x).strip() for x in items if str(x).strip()]
    if len(set(labels)) != len(labels):
        raise ParameterError("labels", f"lists a label twice: {spec!r}")
    return labels or None


def label_order(observed: Iterable[str], declared: Sequence[str] | None = None) -> list[str]:
    """The label list in a stable order: the declared order, else numeric order, else alphabetical."""
    if declared:
        return list(declared)
    values = sorted({str(v) for v in observed})
    try:
        return sorted(values, key=float)
    except ValueError:
        return values


def has_items(frame: pd.DataFrame) -> bool:
    """True when rows carry an item id (multi-item data such as SciEntsBank)."""
    return ITEM_ID in frame.columns and frame[ITEM_ID].notna().any()


def public_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without private bookkeeping columns (those starting with ``_``)."""
    return frame[[c for c in frame.columns if not str(c).startswith("_")]]
