"""The cheap scorer behind the guesses and the uncertainty: refitted on the coded rows at every call."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthgrade.data import label_indices
from synthgrade.modeling import Scorer
from synthgrade.scorers import TrainingArguments, kind_for

#: A model is fitted once at least two labels have this many coded rows each (fewer cannot be cross-validated).
MIN_ROWS_PER_LABEL = 3


def can_fit(coded: pd.DataFrame | None, labels: list[str]) -> bool:
    """Whether the coded rows are enough for a model: two labels with MIN_ROWS_PER_LABEL rows each."""
    if coded is None or not len(coded) or "label" not in coded.columns:
        return False
    counts = np.bincount(label_indices(coded, labels), minlength=len(labels))
    return int((counts >= MIN_ROWS_PER_LABEL).sum()) >= 2


def scorer_spec(encoder: str, rows: int) -> str:
    """The cheapest scorer worth having: the frozen-encoder hybrid (TF-IDF alone is weak below a few hundred rows)."""
    return f"hybrid:{encoder}"


def fit_guess_model(coded: pd.DataFrame, labels: list[str], spec: str, seed: int = 0) -> Scorer:
    """``spec`` (``hybrid:<encoder>``) fitted on every coded row; C is chosen by its own cross-validation."""
    args = TrainingArguments(model=spec, seed=seed, labels=labels, show_progress=False)
    return kind_for(spec).fit(coded, coded.iloc[:0], args, labels, {})
