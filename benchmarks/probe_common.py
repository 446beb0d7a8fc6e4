"""What the probes share: the bench's training split and draws, and held-out items (the tests are never read).

A probe chooses a recipe on validation rows only: the 20 % of each draw that the bench holds out, or rows of
the official training split outside the draw (``held_out_items``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
EMBEDDINGS = ROOT / ".cache" / "embeddings"


def add_cell_arguments(parser: argparse.ArgumentParser, budgets: str = "50", encoders: str | None = None) -> None:
    """``--budgets`` and ``--seeds``; ``--encoders`` too for probes that compare encoders."""
    parser.add_argument("--budgets", default=budgets)
    parser.add_argument("--seeds", default="0,1,2")
    if encoders is not None:
        parser.add_argument("--encoders", default=encoders)


def cells(args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    """(budget, seed) pairs in the order given."""
    for budget in args.budgets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            yield budget, seed


def encoder_cells(args: argparse.Namespace) -> Iterator[tuple[str, str, int]]:
    """(budget, encoder, seed) triples: every encoder's seeds within a budget."""
    for budget in args.budgets.split(","):
        for encoder in args.encoders.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                yield budget, encoder, seed


def training_split() -> tuple[Any, list[str]]:
    """(the official training split, its sorted labels), with the bench's embedding cache loaded."""
    from bench_scorers import DATA, load_cache

    from synthgrade.data import load_responses

    full = load_responses(DATA / "train")
    load_cache(EMBEDDINGS)
    return full, sorted(full["label"].unique())


def held_out_items(rest: Any, seed: int) -> tuple[Any, Any]:
    """(rows of a random fifth of the items, whole, as for new questions; the other items' rows)."""
    import numpy as np

    rng = np.random.default_rng(100 + seed)
    items = sorted(rest["item_id"].unique())
    held = set(rng.choice(items, size=max(1, len(items) // 5), replace=False))
    chosen = rest["item_id"].isin(held)
    return rest[chosen], rest[~chosen]
