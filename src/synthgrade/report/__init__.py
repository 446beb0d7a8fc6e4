"""The sweep report: results tables, PNG figures and one self-contained ``index.html`` from a run directory.

``write_report(run_dir)`` reads ``trials.jsonl`` (and the synthetic-set summaries and split), and writes
``RUN_DIR/report/``: ``index.html`` (figures embedded as base64 data URIs, no external resources, opens
from disk), the PNGs, ``results.csv`` (every cell) and ``summary.json`` (the headline numbers).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.experiment.layout import TRIALS_FILE, SweepLayout
from synthgrade.experiment.store import ResultsStore
from synthgrade.io import atomic_path, read_json, write_json, write_text_atomic
from synthgrade.report.html import render_page
from synthgrade.report.plots import (
    PRETTY,
    plot_metric_vs_share,
    plot_seed_spread,
    plot_synthetic_diagnostics,
    plot_teacher_vs_students,
)
from synthgrade.report.tables import METRICS, cell_table, describe_cell, fmt_ci, headline_table, tidy_results

REPORT_DIR = "report"


@dataclass
class Figure:
    name: str
    title: str
    caption: str
    path: Path


@dataclass
class Report:
    path: Path
    metric: str
    cells: pd.DataFrame
    headline: pd.DataFrame
    figures: list[Figure] = field(default_factory=list)
    trials: int = 0
    failures: int = 0


def _read_sets(layout: SweepLayout) -> list[dict[str, Any]]:
    folder = layout.synthetic_dir
    sets = []
    for path in sorted(folder.glob("*.diagnostics.json")) if folder.is_dir() else []:
        try:
            sets.append(read_json(path))
        except ValueError:
            continue
    return sets


def _truth(layout: SweepLayout) -> tuple[list[int] | None, int]:
    """Test labels as indices (for paired bootstraps with one seed)."""
    manifest_path = layout.split_manifest
    test_path = layout.split("test")
    if not manifest_path.exists() or not test_path.exists():
        return None, 0
    labels = read_json(manifest_path).get("labels") or []
    test = pd.read_json(test_path, lines=True, dtype=False)
    index = {label: i for i, label in enumerate(labels)}
    values = [index.get(str(v)) for v in test["label"]]
    if any(v is None for v in values):
        return None, len(labels)
    return values, len(labels)  # type: ignore[return-value]


def _png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def headline_rows(headline: pd.DataFrame) -> list[list[str]]:
    rows = []
    for record in headline.to_dict("records"):
        rows.append(
            [
                str(record["human_budget"]),
                describe_cell(record),
                str(record["seeds"]),
                fmt_ci(record["mean"], record["ci_low"], record["ci_high"]),
                fmt_ci(record["diff"], record["diff_low"], record["diff_high"], signed=True) if record["ratio"] > 0 else "-",
            ]
        )
    return rows


HEADLINE_HEADERS = ["human budget", "setting", "seeds", "mean [95% CI]", "diff vs human only [95% CI]"]


def cell_headers(metric: str) -> list[str]:
    return [
        "model",
        "budget",
        "setting",
        "filter",
        "seeds",
        "human rows",
        "synthetic rows",
        f"{metric} [95% CI]",
        "SD",
        "diff vs human only",
        "responses/s",
    ]


def cell_rows(cells: pd.DataFrame) -> list[list[str]]:
    """One row per cell (model x setting), the columns of :func:`cell_headers`."""
    return [
        [
            r["model"],
            str(r["human_budget"]),
            describe_cell(r),
            str(r["filter"]),
            str(r["seeds"]),
            _num(r["n_human"], 0),
            _num(r["n_synthetic"], 0),
            fmt_ci(r["mean"], r["ci_low"], r["ci_high"]),
            _num(r["sd"]),
            fmt_ci(r["diff"], r["diff_low"], r["diff_high"], signed=True) if r["ratio"] > 0 else "-",
            _num(r["throughput"], 0),
        ]
        for r in cells.to_dict("records")
    ]


@dataclass
class _Run:
    """What a report reads from a sweep run directory."""

    layout: SweepLayout
    rows: list[dict[str, Any]]
    failures: dict[str, dict[str, Any]]
    plan: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.plan.get("name") or self.layout.root.name)


def _read_run(run_dir: Path) -> _Run:
    layout = SweepLayout(run_dir)
    if not layout.trials.exists():
        raise SynthgradeError(f"{run_dir}: no {TRIALS_FILE} (is this a sweep run directory? run `synthgrade sweep` first)")
    rows = ResultsStore(layout.trials).rows()
    if not rows:
        raise SynthgradeError(f"{layout.trials}: no finished trials yet")
    finished = {r["key"] for r in rows}
    failures = {k: v for k, v in ResultsStore(layout.failures).load().items() if k not in finished}
    plan = read_json(layout.plan) if layout.plan.exists() else {}
    return _Run(layout, rows, failures, plan)


def _figures(cells: pd.DataFrame, tidy: pd.DataFrame, sets: list[dict[str, Any]], metric: str, out: Path) -> list[Figure]:
    """Draw the four figures into ``out`` as PNGs."""
    return [
        Figure(
            "metric_vs_share",
            f"{PRETTY.get(metric, metric)} vs synthetic share",
            "One line per generation temperature; the point at 0% is the human-only teacher (same for every line, "
            "dotted). Bands: 95% CI over seeds (or the test-set bootstrap when a cell has one seed).",
            plot_metric_vs_share(cells, metric, out / "metric_vs_share.png"),
        ),
        Figure(
            "seed_spread",
            "Spread across seeds vs temperature",
            "Left: every seed's result. Right: the standard deviation across seeds; the paper found higher "
            "temperatures less stable.",
            plot_seed_spread(tidy, metric, out / "seed_spread.png"),
        ),
        Figure(
            "teacher_vs_students",
            "Teacher vs students: quality against throughput",
            "Throughput measured on this machine (batch scoring of test responses); quality on the human test split.",
            plot_teacher_vs_students(cells, metric, out / "teacher_vs_students.png"),
        ),
        Figure(
            "synthetic_diagnostics",
            "Synthetic-set diagnostics vs temperature",
            "From each synthetic set's generation and filter summaries: rows kept, diversity and closeness to the "
            "human examples, per temperature.",
            plot_synthetic_diagnostics(sets, out / "synthetic_diagnostics.png"),
        ),
    ]


def _write_tables(out: Path, run: _Run, cells: pd.DataFrame, headline: pd.DataFrame, metric: str) -> None:
    """``results.csv`` (every cell) and ``summary.json`` (the headline numbers)."""
    export = cells.copy()
    export.insert(0, "setting", [describe_cell(r) for r in export.to_dict("records")])
    with atomic_path(out / "results.csv") as tmp:
        export.to_csv(tmp, index=False)
    write_json(
        out / "summary.json",
        {
            "metric": metric,
            "trials": len(run.rows),
            "failed_trials": len(run.failures),
            "headline": headline.drop(columns=[c for c in ("predictions",) if c in headline.columns]).to_dict("records"),
        },
    )


def render_report(run: _Run, cells: pd.DataFrame, headline: pd.DataFrame, figures: list[Figure], metric: str) -> str:
    """The page (``templates/sweep.html``): headline table, the figures embedded as data URIs, every cell, failures."""
    return render_page(
        "sweep.html",
        page_title=str(run.plan.get("name") or "sweep"),
        title=run.name,
        trials=len(run.rows),
        failures=[[k, str(v.get("params")), str(v.get("error"))] for k, v in run.failures.items()],
        metric_name=PRETTY.get(metric, metric),
        data=run.plan.get("data") or {},
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        headline_headers=HEADLINE_HEADERS,
        headline_rows=headline_rows(headline),
        figures=[{"name": f.name, "title": f.title, "caption": f.caption, "src": _png_data_uri(f.path)} for f in figures],
        cell_headers=cell_headers(metric),
        cell_rows=cell_rows(cells),
    )


def write_report(run_dir: str | Path, out_dir: str | Path | None = None, metric: str | None = None) -> Report:
    """Build the report of a sweep run directory; returns where ``index.html`` is and the tables."""
    run = _read_run(Path(run_dir))
    metric = metric or run.plan.get("metric") or "macro_f1"
    if metric not in METRICS:
        raise ParameterError("metric", f"must be one of {', '.join(METRICS)}, got {metric!r}")
    out = Path(out_dir) if out_dir else run.layout.root / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)

    tidy = tidy_results(run.rows)
    if tidy.empty:
        raise SynthgradeError(f"{run.layout.trials}: no successful trials with model results")
    truth, n_labels = _truth(run.layout)
    cells = cell_table(tidy, metric, truth, n_labels)
    headline = headline_table(cells)
    figures = _figures(cells, tidy, _read_sets(run.layout), metric, out)
    _write_tables(out, run, cells, headline, metric)
    index = out / "index.html"
    write_text_atomic(index, render_report(run, cells, headline, figures, metric))
    return Report(index, metric, cells, headline, figures, len(run.rows), len(run.failures))


__all__ = ["HEADLINE_HEADERS", "Figure", "Report", "headline_rows", "write_report"]
