"""Augmentation strategies: how one (item, label) cell of synthetic rows is asked for.

``generate`` writes new responses of a label from human examples of it; ``paraphrase`` rewrites one
human response keeping its meaning and label; ``contrast`` rewrites a human response of another label
so that it earns the cell's label (the key idea removed, contradicted or supplied). A new strategy is
one :class:`Strategy` in :data:`STRATEGIES` and its prompt files in ``synthgrade/prompts``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from synthgrade.data.schema import LABEL
from synthgrade.errors import SynthgradeError


def _same_label(rows: pd.DataFrame, label: str) -> pd.DataFrame:
    return rows[rows[LABEL] == label]


def _other_labels(rows: pd.DataFrame, label: str) -> pd.DataFrame:
    return rows[rows[LABEL] != label]


def _no_sources(rows: pd.DataFrame, label: str) -> pd.DataFrame:
    return rows.iloc[:0]


@dataclass(frozen=True)
class Strategy:
    """One way of asking for rows of label L.

    ``sources`` picks, from an item's human rows, those a call may rewrite (one per call; an empty
    frame for strategies that rewrite nothing). ``show_examples`` says whether prompts show human
    examples of L. ``template`` is the chat prompt file, ``base_template`` the few-shot continuation
    file used for base (not instruction-tuned) models.
    """

    name: str
    template: str
    base_template: str
    sources: Callable[[pd.DataFrame, str], pd.DataFrame]
    show_examples: bool
    description: str

    @property
    def rewrites(self) -> bool:
        return self.sources is not _no_sources


STRATEGIES: dict[str, Strategy] = {
    "generate": Strategy(
        "generate",
        "generate.txt",
        "generate_base.txt",
        _no_sources,
        True,
        "new responses of label L written from human examples of L",
    ),
    "paraphrase": Strategy(
        "paraphrase",
        "paraphrase.txt",
        "paraphrase_base.txt",
        _same_label,
        False,
        "one human response of label L reworded, meaning and label kept",
    ),
    "contrast": Strategy(
        "contrast",
        "contrast.txt",
        "contrast_base.txt",
        _other_labels,
        True,
        "a human response of another label rewritten so that it earns label L",
    ),
}
DEFAULT_STRATEGY = "generate"


def check_strategy_names(names: Sequence[str]) -> list[str]:
    """The names in order without repeats; an unknown or missing name is a one-line error."""
    if not names:
        raise SynthgradeError(f"no strategy given: use one or more of {', '.join(STRATEGIES)}")
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise SynthgradeError(f"unknown strategy '{unknown[0]}': use {', '.join(STRATEGIES)}")
    return list(dict.fromkeys(names))


def get_strategy(name: str) -> Strategy:
    check_strategy_names([name])
    return STRATEGIES[name]


__all__ = ["DEFAULT_STRATEGY", "STRATEGIES", "Strategy", "check_strategy_names", "get_strategy"]
