"""The report's figures (matplotlib, Agg backend): ``*_figure`` draws one (tests inspect its axes), ``plot_*``
writes it as a PNG."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from synthgrade.report.tables import TEACHER

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

PRETTY = {
    "accuracy": "accuracy",
    "macro_f1": "macro F1",
    "kappa": "Cohen's kappa",
    "qwk": "quadratic weighted kappa",
    "auc": "AUC",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    from synthgrade.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _panels(frame: pd.DataFrame) -> list[tuple[str, str | None]]:
    """(budget, filter) combinations, one subplot each."""
    hybrid = frame[frame["ratio"] > 0]
    budgets = list(dict.fromkeys(frame["human_budget"]))
    filters = list(dict.fromkeys(hybrid["filter"])) or ["-"]
    return [(b, f) for b in budgets for f in filters]


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def metric_vs_share_figure(cells: pd.DataFrame, metric: str) -> MplFigure:
    """Metric against synthetic share, one line per temperature with its 95% CI band; ratio 0 is human only."""
    plt = _pyplot()
    teacher = cells[cells["model"] == TEACHER]
    panels = _panels(teacher) if not teacher.empty else [("all", "-")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    for ax, (budget, filt) in zip(axes[0], panels, strict=True):
        part = teacher[teacher["human_budget"] == budget]
        human = part[part["ratio"] == 0]
        hybrid = part[(part["ratio"] > 0) & (part["filter"] == filt)]
        temperatures = sorted({t for t in hybrid["temperature"] if t != "-"}, key=float)
        if not temperatures and human.empty:
            _no_data(ax, "no finished trials")
            continue
        colors = plt.cm.viridis(np.linspace(0.1, 0.85, max(1, len(temperatures))))
        for color, temperature in zip(colors, temperatures, strict=False):
            line = pd.concat([human, hybrid[hybrid["temperature"] == temperature]]).sort_values("ratio")
            x = line["ratio"].to_numpy(float) * 100
            ax.plot(x, line["mean"], marker="o", color=color, label=f"T={temperature}")
            low, high = line["ci_low"].to_numpy(float), line["ci_high"].to_numpy(float)
            ok = ~(np.isnan(low) | np.isnan(high))
            if ok.any():
                ax.fill_between(x[ok], low[ok], high[ok], color=color, alpha=0.18, linewidth=0)
        if not temperatures:
            ax.errorbar([0], human["mean"], fmt="o", color="black", label="human only")
        if not human.empty:
            ax.axhline(float(human["mean"].iloc[0]), color="0.5", linestyle=":", linewidth=1, label="human only")
        title = f"human budget {budget}" + ("" if budget == "all" else " per item")
        if filt not in (None, "-"):
            title += f", filter {filt}"
        ax.set_title(title)
        ax.set_xlabel("synthetic share of training set (%)")
        ax.set_ylabel(f"{PRETTY.get(metric, metric)} (test)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Teacher {PRETTY.get(metric, metric)} vs synthetic share (mean over seeds, 95% CI band)")
    return fig


def seed_spread_figure(tidy: pd.DataFrame, metric: str) -> MplFigure:
    """Per-seed results and their standard deviation against temperature, one line per synthetic share."""
    plt = _pyplot()
    teacher = tidy[(tidy["model"] == TEACHER) & (tidy["ratio"] > 0)] if not tidy.empty else tidy
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 4))
    if teacher.empty:
        _no_data(left, "no hybrid trials")
        _no_data(right, "no hybrid trials")
        return fig
    ratios = sorted(teacher["ratio"].unique())
    colors = plt.cm.plasma(np.linspace(0.1, 0.8, len(ratios)))
    seeds = teacher["seed"].nunique()
    for color, ratio in zip(colors, ratios, strict=True):
        part = teacher[teacher["ratio"] == ratio]
        temperatures = sorted(part["temperature"].unique(), key=float)
        x = np.asarray(temperatures, dtype=float)
        jitter = (ratios.index(ratio) - (len(ratios) - 1) / 2) * 0.01
        left.scatter(
            part["temperature"].astype(float) + jitter, part[metric], color=color, s=18, alpha=0.8, label=f"{ratio:.0%} synthetic"
        )
        sds = [
            part[part["temperature"] == t][metric].std(ddof=1) if (part["temperature"] == t).sum() > 1 else math.nan
            for t in temperatures
        ]
        if seeds > 1:
            right.plot(x, sds, marker="o", color=color, label=f"{ratio:.0%} synthetic")
    left.set_xlabel("generation temperature")
    left.set_ylabel(f"{PRETTY.get(metric, metric)} (each seed)")
    left.set_title("results of each seed")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    if seeds > 1:
        right.set_xlabel("generation temperature")
        right.set_ylabel(f"SD of {PRETTY.get(metric, metric)} across seeds")
        right.set_title(f"spread across {seeds} seeds")
        right.grid(alpha=0.3)
        right.legend(fontsize=8)
    else:
        _no_data(right, "spread needs 2 or more seeds")
    fig.suptitle("Stability across seeds vs temperature (teacher, hybrid trials)")
    return fig


def teacher_vs_students_figure(cells: pd.DataFrame, metric: str) -> MplFigure:
    """Quality against throughput for the teacher and each student (mean over all cells, 95% CI over cells)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    if cells.empty or cells["throughput"].isna().all():
        _no_data(ax, "no speed measurements")
        return fig
    models = list(dict.fromkeys(cells["model"]))
    colors = plt.cm.tab10(np.arange(len(models)) % 10)
    for color, model in zip(colors, models, strict=True):
        part = cells[(cells["model"] == model) & cells["throughput"].notna()]
        if part.empty:
            continue
        ax.scatter(part["throughput"], part["mean"], color=color, alpha=0.35, s=20)
        mean_x, mean_y = float(part["throughput"].mean()), float(part["mean"].mean())
        ax.scatter([mean_x], [mean_y], color=color, s=90, edgecolor="black", label=f"{model} ({mean_x:,.0f}/s)")
    ax.set_xscale("log")
    ax.set_xlabel("throughput (responses per second, batch, this machine)")
    ax.set_ylabel(f"{PRETTY.get(metric, metric)} (test)")
    ax.set_title("Teacher vs distilled students: quality against speed\n(small dots: one cell each; large: mean)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def synthetic_diagnostics_figure(sets: list[dict[str, Any]]) -> MplFigure:
    """Each numeric diagnostic of the synthetic sets against temperature (mean over seeds), split by filter."""
    plt = _pyplot()
    records = []
    for entry in sets:
        params = entry.get("params", {})
        for name, value in (entry.get("diagnostics") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                records.append(
                    {
                        "temperature": params.get("temperature"),
                        "filter": params.get("filter", "off"),
                        "name": name,
                        "value": value,
                    }
                )
    frame = pd.DataFrame.from_records(records)
    names = list(dict.fromkeys(frame["name"])) if not frame.empty else []
    columns = max(1, min(3, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    if not names:
        _no_data(axes[0][0], "no synthetic sets in this sweep")
    for index, name in enumerate(names):
        ax = axes[index // columns][index % columns]
        part = frame[frame["name"] == name]
        for filt, group in part.groupby("filter", sort=True):
            stats = group.groupby("temperature")["value"].agg(["mean", "min", "max"]).sort_index()
            x = stats.index.to_numpy(float)
            ax.plot(x, stats["mean"], marker="o", label=f"filter {filt}")
            if (stats["max"] > stats["min"]).any():
                ax.fill_between(x, stats["min"], stats["max"], alpha=0.15, linewidth=0)
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.set_xlabel("temperature")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].axis("off")
    fig.suptitle("Synthetic-set diagnostics vs temperature (line: mean over seeds; band: range)")
    fig.tight_layout()
    return fig


# -- each figure written as a PNG -------------------------------------------------------------------
def plot_metric_vs_share(cells: pd.DataFrame, metric: str, path: Path) -> Path:
    return _save(metric_vs_share_figure(cells, metric), path)


def plot_seed_spread(tidy: pd.DataFrame, metric: str, path: Path) -> Path:
    return _save(seed_spread_figure(tidy, metric), path)


def plot_teacher_vs_students(cells: pd.DataFrame, metric: str, path: Path) -> Path:
    return _save(teacher_vs_students_figure(cells, metric), path)


def plot_synthetic_diagnostics(sets: list[dict[str, Any]], path: Path) -> Path:
    return _save(synthetic_diagnostics_figure(sets), path)
