"""Inter-rater agreement of double-coded responses: percent agreement and Cohen's kappa, overall and per item."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any


def pair_figures(first: Sequence[str], second: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """n, percent agreement and Cohen's kappa of two coders' labels on the same responses.

    Kappa is left empty (None) when it is undefined: fewer than two pairs, or one label only among them
    (chance agreement is then 1 and kappa 0/0).
    """
    n = len(first)
    agree = sum(a == b for a, b in zip(first, second, strict=True))
    kappa = None
    if n >= 2 and len(set(first) | set(second)) >= 2:
        observed = agree / n
        share_first = {label: sum(a == label for a in first) / n for label in labels}
        share_second = {label: sum(b == label for b in second) / n for label in labels}
        expected = sum(share_first[label] * share_second[label] for label in labels)
        kappa = (observed - expected) / (1 - expected) if expected < 1 else None
    return {"n": n, "percent_agreement": 100.0 * agree / n if n else None, "kappa": kappa}


def agreement_summary(codes: Iterable[tuple[str, str, str, str | None]], labels: Sequence[str]) -> dict[str, Any]:
    """Agreement over every response two coders labelled; ``codes`` holds (id, coder, label, item_id).

    Each double-coded response contributes one pair: the labels of its first two coders by name (so the
    figure does not depend on who came first). Labels imported from a file count as a coder's.
    """
    by_response: dict[str, list[tuple[str, str]]] = defaultdict(list)
    items: dict[str, str] = {}
    coders: set[str] = set()
    for response_id, coder, label, item_id in codes:
        by_response[response_id].append((coder, label))
        items[response_id] = item_id or "(no item)"
        coders.add(coder)
    pairs: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    first_all: list[str] = []
    second_all: list[str] = []
    for response_id, given in sorted(by_response.items()):
        if len(given) < 2:
            continue
        (_, first), (_, second) = sorted(given)[:2]
        first_all.append(first)
        second_all.append(second)
        pairs[items[response_id]][0].append(first)
        pairs[items[response_id]][1].append(second)
    return {
        "double_coded": len(first_all),
        "coders": sorted(coders),
        "overall": pair_figures(first_all, second_all, labels),
        "per_item": {item: pair_figures(a, b, labels) for item, (a, b) in sorted(pairs.items())},
    }
