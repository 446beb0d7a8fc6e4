"""Result tables from ``trials.jsonl``: one tidy row per (trial, model), then one row per cell.

A *cell* is a setting of the sweep axes other than the seed (human budget, filter, temperature,
synthetic share) for one model (the teacher or a student). Human-only trials have no temperature or
filter; they form one cell per budget that every temperature line shares.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.metrics import paired_bootstrap_diff, t_interval

METRICS = ("accuracy", "macro_f1", "kappa", "qwk", "auc")
TEACHER = "teacher"
AXES = ["human_budget", "filter", "temperature", "ratio", "model"]


def _metric(entry: dict[str, Any], name: str) -> tuple[float, float, float]:
    value = (entry.get("metrics") or {}).get(name)
    if not isinstance(value, dict):
        return math.nan, math.nan, math.nan
    out = []
    for field in ("value", "ci_low", "ci_high"):
        v = value.get(field)
        out.append(float(v) if isinstance(v, int | float) else math.nan)
    return tuple(out)  # type: ignore[return-value]


def tidy_results(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (trial, model) with the sweep parameters, every metric, throughput and size."""
    records = []
    for row in rows:
        if row.get("status", "ok") != "ok":
            continue
        params = row.get("params", {})
        models = []
        if isinstance(row.get("teacher"), dict):
            models.append((TEACHER, row["teacher"]))
        for student in row.get("students") or []:
            models.append((str(student.get("name") or student.get("model")), student))
        for name, entry in models:
            record: dict[str, Any] = {
                "key": row["key"],
                "human_budget": str(params.get("human_budget", "all")),
                "seed": params.get("seed", 0),
                "ratio": float(params.get("ratio", 0.0)),
                "temperature": params.get("temperature"),
                "filter": params.get("filter"),
                "model": name,
                "throughput": (entry.get("speed") or {}).get("responses_per_s", math.nan),
                "latency_ms": ((entry.get("speed") or {}).get("latency_ms") or {}).get("p50", math.nan)
                if isinstance((entry.get("speed") or {}).get("latency_ms"), dict)
                else (entry.get("speed") or {}).get("latency_ms_p50", math.nan),
                "parameters": entry.get("parameters", math.nan),
                "predictions": entry.get("predictions"),
                "n_human": (row.get("counts") or {}).get("human", math.nan),
                "n_synthetic": (row.get("counts") or {}).get("synthetic", math.nan),
                "seconds": row.get("seconds", math.nan),
            }
            for metric in METRICS:
                value, low, high = _metric(entry, metric)
                record[metric] = value
                record[f"{metric}_ci_low"] = low
                record[f"{metric}_ci_high"] = high
            records.append(record)
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return frame
    frame["temperature"] = frame["temperature"].astype(object).where(frame["temperature"].notna(), None)
    frame["filter"] = frame["filter"].astype(object).where(frame["filter"].notna(), None)
    return frame


def _cell_key(record: pd.Series) -> tuple:
    return tuple(
        "-" if record[a] is None or (isinstance(record[a], float) and math.isnan(record[a])) else record[a] for a in AXES
    )


def _cell_record(cell: tuple, group: pd.DataFrame, metric: str) -> dict[str, Any]:
    """Mean and 95% CI of one cell: over seeds (t), or the trial's own test bootstrap when it has one seed."""
    budget, filt, temperature, ratio, model = cell
    values = group[metric].tolist()
    mean, low, high = t_interval(values)
    ci_method = "seeds (t)"
    if len(group) == 1:
        low, high = group[f"{metric}_ci_low"].iloc[0], group[f"{metric}_ci_high"].iloc[0]
        ci_method = "test bootstrap"
    return {
        "human_budget": budget,
        "filter": filt,
        "temperature": temperature,
        "ratio": ratio,
        "model": model,
        "seeds": len(group),
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "sd": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan,
        "ci_method": ci_method,
        "throughput": float(np.nanmean(group["throughput"].astype(float))) if group["throughput"].notna().any() else math.nan,
        "n_human": float(np.nanmean(group["n_human"].astype(float))),
        "n_synthetic": float(np.nanmean(group["n_synthetic"].astype(float))),
        "diff": math.nan,
        "diff_low": math.nan,
        "diff_high": math.nan,
        "diff_method": "",
    }


def _paired_difference(
    record: dict[str, Any], group: pd.DataFrame, baseline: pd.DataFrame, metric: str, truth: list[int] | None, n_labels: int
) -> None:
    """Fill ``diff*`` of a hybrid cell: paired with the human-only model of the same budget, model and seed."""
    diffs, pairs = [], []
    for _, trial in group.iterrows():
        base_key = (record["human_budget"], record["model"], trial["seed"])
        if base_key in baseline.index:
            base = baseline.loc[[base_key]].iloc[0]
            diffs.append(trial[metric] - base[metric])
            pairs.append((trial["predictions"], base["predictions"]))
    if len(diffs) >= 2:
        record["diff"], record["diff_low"], record["diff_high"] = t_interval(diffs)
        record["diff_method"] = "seeds (t)"
    elif len(diffs) == 1:
        record["diff"] = diffs[0]
        predicted, base_predicted = pairs[0]
        usable = truth is not None and isinstance(predicted, list) and isinstance(base_predicted, list)
        if usable and len(predicted) == len(truth) == len(base_predicted) and metric in {"accuracy", "macro_f1", "kappa", "qwk"}:
            # The point and its interval both come from the stored predictions, so they agree.
            record["diff"], record["diff_low"], record["diff_high"] = paired_bootstrap_diff(
                metric, truth, predicted, base_predicted, n_labels
            )
            record["diff_method"] = "paired test bootstrap"
        else:
            record["diff_method"] = "1 seed"


def cell_table(
    tidy: pd.DataFrame,
    metric: str,
    truth: list[int] | None = None,
    n_labels: int = 0,
) -> pd.DataFrame:
    """Mean and 95% CI per cell, and the paired difference against the human-only model (same budget, seed, model)."""
    if tidy.empty:
        return pd.DataFrame()
    tidy = tidy.copy()
    tidy["_cell"] = tidy.apply(_cell_key, axis=1)
    baseline = tidy[tidy["ratio"] == 0].set_index(["human_budget", "model", "seed"])
    out = []
    for cell, group in tidy.groupby("_cell", sort=False):
        record = _cell_record(cell, group, metric)
        if record["ratio"] > 0:
            _paired_difference(record, group, baseline, metric, truth, n_labels)
        out.append(record)
    table = pd.DataFrame.from_records(out)
    order = {"teacher": 0}
    table["_model_order"] = table["model"].map(lambda m: order.get(m, 1))
    table["_temp"] = table["temperature"].map(lambda t: -1.0 if t == "-" else float(t))
    table["_budget"] = table["human_budget"].map(lambda b: math.inf if b == "all" else float(b))
    table = table.sort_values(["_model_order", "model", "_budget", "filter", "_temp", "ratio"], kind="stable")
    return table.drop(columns=["_model_order", "_temp", "_budget"]).reset_index(drop=True)


def headline_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per human budget: the human-only teacher and the best hybrid teacher cell (highest mean)."""
    if cells.empty:
        return cells
    teacher = cells[cells["model"] == TEACHER]
    rows = []
    for _budget, group in teacher.groupby("human_budget", sort=False):
        human = group[group["ratio"] == 0]
        hybrid = group[group["ratio"] > 0]
        if not human.empty:
            rows.append({**human.iloc[0].to_dict(), "setting": "human only"})
        if not hybrid.empty:
            best = hybrid.sort_values("mean", ascending=False, kind="stable").iloc[0].to_dict()
            best["setting"] = "best hybrid"
            rows.append(best)
    return pd.DataFrame.from_records(rows)


def describe_cell(record: dict[str, Any]) -> str:
    if record["ratio"] == 0:
        return "human only"
    parts = [f"{record['ratio']:.0%} synthetic", f"T={record['temperature']}"]
    if record.get("filter") not in (None, "-", "off"):
        parts.append("filtered")
    return ", ".join(parts)


def fmt_ci(mean: float, low: float, high: float, signed: bool = False) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    text = f"{mean:+.3f}" if signed else f"{mean:.3f}"
    if low is None or high is None or (isinstance(low, float) and math.isnan(low)):
        return text
    return f"{text} [{low:+.3f}, {high:+.3f}]" if signed else f"{text} [{low:.3f}, {high:.3f}]"
