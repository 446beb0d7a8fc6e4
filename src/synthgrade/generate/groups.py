"""The cells of a run: one per (strategy, item, label) that has what its strategy needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from synthgrade.data.schema import ID, ITEM_ID, ITEM_TEXT, LABEL, REFERENCE, has_items
from synthgrade.generate.strategies import STRATEGIES, Strategy


@dataclass
class Group:
    """One (strategy, item, label) cell: human rows of the label (the example pool), the rows a rewriting
    strategy may rewrite (``sources``) and the item's wording."""

    item_id: str | None
    label: str
    item_text: str | None
    reference: str | None
    pool: pd.DataFrame
    strategy: Strategy = STRATEGIES["generate"]
    sources: pd.DataFrame | None = None

    @property
    def name(self) -> str:
        cell = f"{self.item_id}|{self.label}" if self.item_id is not None else self.label
        # generate keeps its old names: they seed the example draws, so cached calls stay addressable.
        return cell if self.strategy.name == "generate" else f"{self.strategy.name}|{cell}"


def _first_text(values: pd.Series) -> str | None:
    return next((v.strip() for v in values if isinstance(v, str) and v.strip()), None)


def plan_groups(
    train: pd.DataFrame, labels: Sequence[str], strategies: Sequence[Strategy] = (STRATEGIES["generate"],)
) -> list[Group]:
    """Cells that have what their strategy needs: examples of the label, or rows to rewrite."""
    items = train.groupby(ITEM_ID, sort=True) if has_items(train) else [(None, train)]
    cells = []
    for item_id, rows in items:
        item_text = _first_text(rows[ITEM_TEXT]) if ITEM_TEXT in rows.columns else None
        reference = _first_text(rows[REFERENCE]) if REFERENCE in rows.columns else None
        cells.append((None if item_id is None else str(item_id), rows, item_text, reference))
    groups = []
    for strategy in strategies:
        for item_id, rows, item_text, reference in cells:
            for label in labels:
                pool = rows[rows[LABEL] == label].sort_values(ID, kind="stable")
                sources = strategy.sources(rows, label).sort_values(ID, kind="stable")
                if len(sources) if strategy.rewrites else len(pool):
                    groups.append(Group(item_id, label, item_text, reference, pool, strategy, sources))
    return groups
