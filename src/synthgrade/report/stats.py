"""Statistics for the report: means with 95% intervals over seeds, and paired differences.

With two or more seeds the interval is Student's t over the per-seed values (the variation a user
would see by rerunning); with a single seed there is no seed variation to measure, so the interval
is the trial's own bootstrap over test rows, and the table says which one it shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

CI_LEVEL = 0.95


def t_interval(values: Sequence[float], level: float = CI_LEVEL) -> tuple[float, float, float]:
    """(mean, low, high) of a Student-t interval; low/high are NaN with fewer than two values."""
    data = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if data.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    if data.size < 2:
        return mean, math.nan, math.nan
    from scipy import stats

    half = float(stats.t.ppf(0.5 + level / 2, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
    return mean, mean - half, mean + half


def metric_from_predictions(metric: str, truth: np.ndarray, predicted: np.ndarray, n_labels: int) -> float:
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    if metric == "accuracy":
        return float(accuracy_score(truth, predicted))
    if metric == "macro_f1":
        return float(f1_score(truth, predicted, average="macro", labels=list(range(n_labels)), zero_division=0))
    if metric == "kappa":
        return float(cohen_kappa_score(truth, predicted, labels=list(range(n_labels))))
    if metric == "qwk":
        return float(cohen_kappa_score(truth, predicted, labels=list(range(n_labels)), weights="quadratic"))
    raise ValueError(f"no prediction-level formula for {metric}")


def paired_bootstrap_diff(
    metric: str,
    truth: Sequence[int],
    predicted: Sequence[int],
    baseline: Sequence[int],
    n_labels: int,
    rounds: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(difference, low, high) of metric(predicted) - metric(baseline), resampling the same test rows for both."""
    y, a, b = (np.asarray(v, dtype=int) for v in (truth, predicted, baseline))
    point = metric_from_predictions(metric, y, a, n_labels) - metric_from_predictions(metric, y, b, n_labels)
    rng = np.random.default_rng(seed)
    diffs = np.empty(rounds)
    for i in range(rounds):
        index = rng.integers(0, len(y), len(y))
        diffs[i] = metric_from_predictions(metric, y[index], a[index], n_labels) - metric_from_predictions(
            metric, y[index], b[index], n_labels
        )
    low, high = np.quantile(diffs, [(1 - CI_LEVEL) / 2, 1 - (1 - CI_LEVEL) / 2])
    return point, float(low), float(high)
