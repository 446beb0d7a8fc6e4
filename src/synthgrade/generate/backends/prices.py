"""List prices of OpenAI's chat models, used only for a run's cost estimate."""

from __future__ import annotations

import re

# USD per 1M tokens (input, output), list prices; used only for the run's cost estimate.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
}


def price_for(model: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens for ``model`` (a dated snapshot costs what its base model does)."""
    base = model.split("/")[-1]
    if base in PRICES:
        return PRICES[base]
    dated = re.sub(r"-\d{4}-\d{2}-\d{2}$", "", base)
    return PRICES.get(dated)
