"""Tiny labelled rows (one item, answers plainly right or wrong) and quick training arguments."""

from __future__ import annotations

import pandas as pd

from synthgrade.train import TrainingArguments

GOOD = ["the water evaporates and leaves the salt", "heat it so the water evaporates", "evaporate the water, salt stays"]
BAD = ["stir it with a spoon", "pour it through a filter", "i do not know"]


def rows(prefix: str, n: int, start: int = 0, item: str = "q1") -> pd.DataFrame:
    out = []
    for i in range(start, start + n):
        good = i % 2 == 0
        out.append(
            {
                "id": f"{prefix}{i}",
                "text": (GOOD if good else BAD)[i % 3] + f" ({i % 7})",
                "label": "correct" if good else "incorrect",
                "item_id": item,
                "item_text": "How do you separate salt from water?",
                "reference": "The water evaporates, leaving the salt.",
            }
        )
    return pd.DataFrame(out)


def args(model: str, **overrides) -> TrainingArguments:
    return TrainingArguments(**({"model": model, "show_progress": False, "max_length": 32} | overrides))
