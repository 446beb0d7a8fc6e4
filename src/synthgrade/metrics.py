"""Classification metrics with vectorised bootstrap confidence intervals: the one place every stage
(training summaries, evaluation, the sweep report, build's ship rule) computes a metric or an interval.

Every resample draws row indices once (``bootstrap x n``, :func:`bootstrap_index`); all confusion-matrix
metrics (accuracy, macro-F1, per-label P/R/F1, Cohen's kappa, quadratic weighted kappa) come from one
batched ``bincount`` of those resamples, and ROC-AUC from per-row resample counts over one sort, so 1000
resamples of thousands of rows take a fraction of a second. With a second model the same indices give the
paired difference.

Macro-F1 rule: the mean F1 over the labels that occur in the true labels or in the (first) model's
predictions on the full set (:func:`present_labels`); the set is fixed before resampling, so a label
missing from one resample counts there with F1 0. A paired difference uses the same set for both models.

Intervals are percentile intervals at :data:`CI_LEVEL`; :func:`t_interval` is the Student-t interval over
seeds that the report uses when a cell has two or more.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthgrade.errors import ParameterError, SynthgradeError

#: Headline metrics, each reported as ``{value, ci_low, ci_high}``.
HEADLINE = ("accuracy", "macro_f1", "kappa", "qwk", "auc")
CI_LEVEL = 0.95


#: Fewer test rows than this make every figure mostly noise: evaluations say so rather than report it silently.
MIN_TEST_ROWS = 20


def degenerate_test_warnings(labels: Sequence[str], name: str = "test") -> list[str]:
    """What makes figures on these test ``labels`` (one per row) misleading: too few rows, or a single class."""
    warnings = []
    if len(labels) < MIN_TEST_ROWS:
        warnings.append(
            f"the {name} set has only {len(labels)} rows: its figures are mostly noise (their intervals are wide); "
            f"use at least {MIN_TEST_ROWS}"
        )
    present = sorted(set(labels))
    if len(present) == 1:
        warnings.append(f"every {name} row has the label '{present[0]}': macro-F1, kappa and AUC are not meaningful on one class")
    return warnings


def bootstrap_index(n: int, rounds: int, seed: int = 0) -> np.ndarray | None:
    """Row indices of ``rounds`` resamples of ``n`` rows (rounds x n), drawn at once from ``seed``; None for 0 rounds."""
    if rounds < 0:
        raise ParameterError("bootstrap", f"must be 0 or more, got {rounds}")
    return np.random.default_rng(seed).integers(0, n, size=(rounds, n)) if rounds else None


def present_labels(y_true: np.ndarray, y_pred: np.ndarray, k: int, *more_preds: np.ndarray) -> np.ndarray:
    """Which of ``k`` labels macro averages count: those in the true labels or any of the predictions."""
    present = np.zeros(k, dtype=bool)
    present[np.unique(np.concatenate([y_true, y_pred, *more_preds]))] = True
    return present


def confusion_matrices(y_true: np.ndarray, y_pred: np.ndarray, k: int, index: np.ndarray | None = None) -> np.ndarray:
    """Confusion matrices (rows: true, columns: predicted), one per row of ``index`` (B x n); (1, k, k) without."""
    codes = y_true * k + y_pred
    if index is None:
        return np.bincount(codes, minlength=k * k).reshape(1, k, k)
    batch = index.shape[0]
    flat = (np.arange(batch)[:, None] * (k * k) + codes[index]).ravel()
    return np.bincount(flat, minlength=batch * k * k).reshape(batch, k, k)


def _safe_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def confusion_metrics(cm: np.ndarray, present: np.ndarray, quadratic: bool) -> dict[str, np.ndarray]:
    """Metrics from a batch of confusion matrices (B x k x k); ``present`` marks labels in macro averages."""
    cm = cm.astype(np.float64)
    k = cm.shape[1]
    n = cm.sum(axis=(1, 2))
    tp = np.diagonal(cm, axis1=1, axis2=2)
    predicted = cm.sum(axis=1)  # column sums
    actual = cm.sum(axis=2)  # row sums
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, actual)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    out = {
        "accuracy": _safe_divide(tp.sum(axis=1), n),
        "macro_f1": f1[:, present].mean(axis=1) if present.any() else np.zeros(len(cm)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
    expected = actual[:, :, None] * predicted[:, None, :] / np.where(n > 0, n, 1)[:, None, None]
    grid = np.arange(k)
    unweighted = 1.0 - np.eye(k)
    out["kappa"] = _weighted_kappa(cm, expected, unweighted)
    out["qwk"] = _weighted_kappa(cm, expected, (grid[:, None] - grid[None, :]) ** 2.0) if quadratic else np.full(len(cm), np.nan)
    return out


def _weighted_kappa(observed: np.ndarray, expected: np.ndarray, weights: np.ndarray) -> np.ndarray:
    num = (observed * weights).sum(axis=(1, 2))
    den = (expected * weights).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 1.0 - num / np.where(den > 0, den, 1), np.nan)


def resample_counts(n: int, index: np.ndarray | None) -> np.ndarray:
    """How often each row appears in each resample (B x n); one all-ones row without resampling."""
    if index is None:
        return np.ones((1, n), dtype=np.int64)
    batch = index.shape[0]
    flat = (np.arange(batch)[:, None] * n + index).ravel()
    return np.bincount(flat, minlength=batch * n).reshape(batch, n)


def _binary_auc(scores: np.ndarray, positive: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC per resample from row multiplicities: rows are sorted by score once, ties count half.

    O(B x n) with no per-resample sort, which is what makes 1000 resamples of thousands of rows cheap.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])  # tie groups
    weights = counts[:, order].astype(np.float64)
    pos = np.add.reduceat(weights * positive[order], starts, axis=1)
    neg = np.add.reduceat(weights * ~positive[order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), wins / (n_pos * n_neg), np.nan)


def auc_scores(y_true: np.ndarray, proba: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """ROC-AUC per resample: binary (class 1 vs 0) or one-vs-rest macro over classes present in the sample."""
    k = proba.shape[1]
    counts = resample_counts(len(y_true), index)
    classes = [1] if k == 2 else list(range(k))
    stacked = np.vstack([_binary_auc(proba[:, c], y_true == c, counts) for c in classes])
    if len(classes) == 1:
        return stacked[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample without some class: that class is skipped
        return np.nanmean(stacked, axis=0)


def _interval(point: float, samples: np.ndarray | None) -> dict[str, float | None]:
    def clean(x: float) -> float | None:
        return None if x is None or not np.isfinite(x) else float(x)

    if samples is None or not np.isfinite(samples).any():
        return {"value": clean(point), "ci_low": None, "ci_high": None}
    alpha = (1 - CI_LEVEL) / 2 * 100
    low, high = np.nanpercentile(samples, [alpha, 100 - alpha])
    return {"value": clean(point), "ci_low": clean(low), "ci_high": clean(high)}


def _all_metrics(
    y: np.ndarray, proba: np.ndarray, k: int, present: np.ndarray, quadratic: bool, index: np.ndarray | None
) -> dict[str, np.ndarray]:
    predicted = proba.argmax(axis=1)
    values = confusion_metrics(confusion_matrices(y, predicted, k, index), present, quadratic)
    values["auc"] = auc_scores(y, proba, index)
    return values


def point_metrics(y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str], ordinal: bool = False) -> dict[str, Any]:
    """Headline metrics without intervals (used for validation summaries)."""
    k = len(labels)
    mask = y_true >= 0
    y, proba = y_true[mask], proba[mask]
    if not len(y):
        return {name: None for name in HEADLINE}
    present = present_labels(y, proba.argmax(axis=1), k)
    values = _all_metrics(y, proba, k, present, ordinal or k == 2, None)
    return {name: _interval(float(values[name][0]), None)["value"] for name in HEADLINE} | {"n": int(len(y))}


def evaluate_predictions(
    y_true: np.ndarray,
    proba: np.ndarray,
    labels: Sequence[str],
    bootstrap: int = 1000,
    seed: int = 0,
    ordinal: bool = False,
    compare_proba: np.ndarray | None = None,
) -> dict[str, Any]:
    """All metrics with percentile bootstrap CIs; with ``compare_proba``, paired differences (this - other)."""
    k = len(labels)
    n = len(y_true)
    if n == 0:
        raise SynthgradeError("the test data has no rows to evaluate")
    index = bootstrap_index(n, bootstrap, seed)
    quadratic = ordinal or k == 2
    predicted = proba.argmax(axis=1)
    present = present_labels(y_true, predicted, k)
    point = _all_metrics(y_true, proba, k, present, quadratic, None)
    boot = _all_metrics(y_true, proba, k, present, quadratic, index) if index is not None else None

    result: dict[str, Any] = {
        "n": int(n),
        "labels": list(labels),
        "bootstrap": int(bootstrap),
        "seed": seed,
        "ci_level": CI_LEVEL,
    }
    for name in HEADLINE:
        result[name] = _interval(float(point[name][0]), boot[name] if boot else None)
    result["auc_kind"] = "binary" if k == 2 else "one-vs-rest macro"
    result["qwk_applies"] = bool(quadratic)
    support = np.bincount(y_true, minlength=k)
    result["per_label"] = {
        label: {
            metric: _interval(float(point[metric][0, j]), boot[metric][:, j] if boot else None)
            for metric in ("precision", "recall", "f1")
        }
        | {"support": int(support[j])}
        for j, label in enumerate(labels)
    }
    result["confusion_matrix"] = {
        "labels": list(labels),
        "rows": "true label",
        "columns": "predicted label",
        "matrix": confusion_matrices(y_true, predicted, k)[0].tolist(),
    }
    if compare_proba is not None:
        other_point = _all_metrics(y_true, compare_proba, k, present, quadratic, None)
        other_boot = _all_metrics(y_true, compare_proba, k, present, quadratic, index) if index is not None else None
        diff: dict[str, Any] = {}
        for name in HEADLINE:
            samples = boot[name] - other_boot[name] if boot and other_boot else None
            entry = _interval(float(point[name][0] - other_point[name][0]), samples)
            entry["other"] = _interval(float(other_point[name][0]), other_boot[name] if other_boot else None)
            if samples is not None and np.isfinite(samples).any():
                finite = samples[np.isfinite(samples)]
                entry["p_value"] = float(min(1.0, 2 * min((finite <= 0).mean(), (finite >= 0).mean())))
            diff[name] = entry
        result["diff"] = diff
    return result


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


#: Metrics that hard predictions determine (ROC-AUC needs probabilities).
LABEL_METRICS = ("accuracy", "macro_f1", "kappa", "qwk")


def paired_bootstrap_diff(
    metric: str,
    truth: Sequence[int],
    predicted: Sequence[int],
    baseline: Sequence[int],
    n_labels: int,
    rounds: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(difference, low, high) of metric(predicted) - metric(baseline) over the same resampled rows.

    The same rule and resamples as :func:`evaluate_predictions` with ``compare_proba``: given one-hot
    probabilities of ``predicted`` and ``baseline``, its ``diff[metric]`` is this interval (QWK is computed
    whenever it is asked for here).
    """
    if metric not in LABEL_METRICS:
        raise ValueError(f"no prediction-level formula for {metric}")
    y, a, b = (np.asarray(v, dtype=np.int64) for v in (truth, predicted, baseline))
    present = present_labels(y, a, n_labels)
    quadratic = metric == "qwk"  # the only metric the flag changes

    def values(pred: np.ndarray, index: np.ndarray | None) -> np.ndarray:
        return confusion_metrics(confusion_matrices(y, pred, n_labels, index), present, quadratic)[metric]

    index = bootstrap_index(len(y), rounds, seed)
    samples = values(a, index) - values(b, index) if index is not None else None
    interval = _interval(float(values(a, None)[0] - values(b, None)[0]), samples)
    low, high, point = (math.nan if interval[key] is None else interval[key] for key in ("ci_low", "ci_high", "value"))
    return point, low, high
