"""Evaluation on held-out human-coded data: metrics with bootstrap CIs, paired comparisons, records in the model dir."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from synthgrade.data import check_human_test, frame_hash, label_indices
from synthgrade.errors import ParameterError
from synthgrade.metrics import HEADLINE, degenerate_test_warnings, evaluate_predictions
from synthgrade.modeling import METADATA_FILE, ModelInfo, Scorer


def evaluate_scorer(
    scorer: Scorer,
    test_df: pd.DataFrame,
    bootstrap: int = 1000,
    seed: int = 0,
    compare: Scorer | None = None,
    ordinal: bool | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Score ``test_df`` (human-coded rows) and return metrics with bootstrap 95% CIs.

    Keys: ``accuracy``, ``macro_f1``, ``kappa``, ``qwk``, ``auc`` (each ``{value, ci_low, ci_high}``),
    ``per_label``, ``confusion_matrix``, ``n``, ``test_hash``, and ``diff`` (this minus ``compare``,
    paired over the same resamples) when ``compare`` is given.
    """
    check_human_test(test_df)
    labels = scorer.labels
    y_true = label_indices(test_df, labels)
    proba = np.asarray(scorer.predict_proba(test_df, batch_size=batch_size), dtype=np.float64)
    compare_proba = None
    if compare is not None:
        if set(compare.labels) != set(labels):
            raise ParameterError("compare", f"model has labels {compare.labels}, this model has {labels}; they must match")
        other = np.asarray(compare.predict_proba(test_df, batch_size=batch_size), dtype=np.float64)
        compare_proba = other[:, [compare.labels.index(label) for label in labels]]
    use_ordinal = scorer.info.ordinal if ordinal is None else ordinal
    result = evaluate_predictions(
        y_true, proba, labels, bootstrap=bootstrap, seed=seed, ordinal=use_ordinal, compare_proba=compare_proba
    )
    result["test_hash"] = frame_hash(test_df)
    result["warnings"] = degenerate_test_warnings([labels[i] for i in y_true])
    result["model_kind"] = scorer.info.kind
    if compare is not None:
        result["compare_kind"] = compare.info.kind
    return result


def record_evaluation(model_dir: str | Path, result: dict[str, Any], test_name: str, compare_name: str | None = None) -> None:
    """Append (or replace, for the same test set) an evaluation entry in the model's ``synthgrade.json`` and card."""
    directory = Path(model_dir)
    if not (directory / METADATA_FILE).exists():
        return
    info = ModelInfo.load(directory)
    entry: dict[str, Any] = {
        "test": test_name,
        "test_hash": result["test_hash"],
        "n": result["n"],
        "bootstrap": result["bootstrap"],
        "seed": result["seed"],
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metrics": {name: result[name] for name in HEADLINE},
    }
    if compare_name:
        entry["compare"] = compare_name
        entry["diff"] = {name: {k: v for k, v in result["diff"][name].items() if k != "other"} for name in HEADLINE}
    info.evaluations = [
        e for e in info.evaluations if (e.get("test_hash"), e.get("compare")) != (entry["test_hash"], compare_name)
    ]
    info.evaluations.append(entry)
    info.save(directory)


def _fmt(entry: dict[str, Any]) -> tuple[str, str]:
    if entry.get("value") is None:
        return "-", "-"
    ci = f"[{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]" if entry.get("ci_low") is not None else "-"
    return f"{entry['value']:.3f}", ci


def metrics_table(result: dict[str, Any], title: str | None = None) -> Table:
    """A readable rich table: headline metrics with CIs (and the paired difference), then per-label P/R/F1."""
    has_diff = "diff" in result
    columns = ["metric", "value", "95% CI"] + (["other", "difference", "diff 95% CI", "p"] if has_diff else [])
    table = Table(*columns, title=title or f"n = {result['n']}, {result['bootstrap']} bootstrap resamples")
    names = {
        "accuracy": "accuracy",
        "macro_f1": "macro-F1",
        "kappa": "Cohen's kappa",
        "qwk": "QWK",
        "auc": f"ROC-AUC ({result['auc_kind']})",
    }
    for name in HEADLINE:
        row = [names[name], *_fmt(result[name])]
        if has_diff:
            diff = result["diff"][name]
            p = diff.get("p_value")
            row += [_fmt(diff["other"])[0], *_fmt(diff), f"{p:.3f}" if p is not None else "-"]
        table.add_row(*row)
    for label, entry in result["per_label"].items():
        for metric in ("precision", "recall", "f1"):
            row = [f"{label}: {metric}", *_fmt(entry[metric])]
            table.add_row(*(row + [""] * (len(columns) - len(row))))
    return table


def confusion_table(result: dict[str, Any]) -> Table:
    matrix = result["confusion_matrix"]
    table = Table("true \\ predicted", *matrix["labels"], title="confusion matrix")
    for label, row in zip(matrix["labels"], matrix["matrix"], strict=True):
        table.add_row(label, *(str(v) for v in row))
    return table


__all__ = ["confusion_table", "evaluate_scorer", "metrics_table", "record_evaluation"]
