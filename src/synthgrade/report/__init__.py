"""The sweep report: results tables, PNG figures and one self-contained ``index.html`` from a run directory.

``write_report(run_dir)`` reads ``trials.jsonl`` (and the synthetic-set summaries and split), and writes
``RUN_DIR/report/``: ``index.html`` (figures embedded as base64 data URIs, no external resources, opens
from disk), the PNGs, ``results.csv`` (every cell) and ``summary.json`` (the headline numbers).
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.experiment.store import FAILURES_FILE, TRIALS_FILE, ResultsStore
from synthgrade.io import atomic_path, read_json, write_json, write_text_atomic
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


def _read_sets(run_dir: Path) -> list[dict[str, Any]]:
    folder = run_dir / "synthetic"
    sets = []
    for path in sorted(folder.glob("*.diagnostics.json")) if folder.is_dir() else []:
        try:
            sets.append(read_json(path))
        except ValueError:
            continue
    return sets


def _truth(run_dir: Path) -> tuple[list[int] | None, int]:
    """Test labels as indices (for paired bootstraps with one seed)."""
    manifest_path = run_dir / "split" / "manifest.json"
    test_path = run_dir / "split" / "test.jsonl"
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


def _html_table(headers: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


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

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem} .meta{color:#555;margin-top:0}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right} th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.headline td:nth-child(2),.cells td:nth-child(-n+4){text-align:left}
figure{margin:2rem 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#444;font-size:.9rem;max-width:60rem}
.note{background:#f8f8f0;border-left:4px solid #cc9;padding:.5rem 1rem}
"""


def write_report(run_dir: str | Path, out_dir: str | Path | None = None, metric: str | None = None) -> Report:
    """Build the report of a sweep run directory; returns where ``index.html`` is and the tables."""
    run_dir = Path(run_dir)
    trials_path = run_dir / TRIALS_FILE
    if not trials_path.exists():
        raise SynthgradeError(f"{run_dir}: no {TRIALS_FILE} (is this a sweep run directory? run `synthgrade sweep` first)")
    rows = ResultsStore(trials_path).rows()
    if not rows:
        raise SynthgradeError(f"{trials_path}: no finished trials yet")
    failures = ResultsStore(run_dir / FAILURES_FILE).load()
    failures = {k: v for k, v in failures.items() if k not in {r["key"] for r in rows}}
    plan = read_json(run_dir / "plan.json") if (run_dir / "plan.json").exists() else {}
    metric = metric or plan.get("metric") or "macro_f1"
    if metric not in METRICS:
        raise ParameterError("metric", f"must be one of {', '.join(METRICS)}, got {metric!r}")
    out = Path(out_dir) if out_dir else run_dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)

    tidy = tidy_results(rows)
    if tidy.empty:
        raise SynthgradeError(f"{trials_path}: no successful trials with model results")
    truth, n_labels = _truth(run_dir)
    cells = cell_table(tidy, metric, truth, n_labels)
    headline = headline_table(cells)
    sets = _read_sets(run_dir)

    figures = [
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

    export = cells.copy()
    export.insert(0, "setting", [describe_cell(r) for r in export.to_dict("records")])
    with atomic_path(out / "results.csv") as tmp:
        export.to_csv(tmp, index=False)
    write_json(
        out / "summary.json",
        {
            "metric": metric,
            "trials": len(rows),
            "failed_trials": len(failures),
            "headline": headline.drop(columns=[c for c in ("predictions",) if c in headline.columns]).to_dict("records"),
        },
    )

    body = [f"<h1>{html.escape(str(plan.get('name') or run_dir.name))}: synthgrade sweep report</h1>"]
    data = plan.get("data") or {}
    body.append(
        f'<p class="meta">{len(rows)} finished trials'
        + (f", {len(failures)} failed" if failures else "")
        + f" &middot; metric: {html.escape(PRETTY.get(metric, metric))} on the human-coded test split"
        + (f" ({data.get('test_rows')} responses, never used for training, early stopping, selection or prompts)" if data else "")
        + f" &middot; generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>"
    )
    body.append("<h2>Headline</h2>")
    body.append(_html_table(HEADLINE_HEADERS, headline_rows(headline), "headline"))
    body.append(
        '<p class="note">Intervals: with 2+ seeds, Student-t 95% CI over seeds; the difference is paired (same human '
        "rows and seed as the human-only model). With one seed, the CI is the trial's bootstrap over test rows and "
        "the difference a paired bootstrap over the same test rows.</p>"
    )
    for figure in figures:
        body.append(
            f'<figure id="{figure.name}"><h2>{html.escape(figure.title)}</h2>'
            f'<img class="figure" alt="{html.escape(figure.title)}" src="{_png_data_uri(figure.path)}">'
            f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>"
        )
    body.append("<h2>All cells</h2>")
    table_rows = [
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
    body.append(
        _html_table(
            [
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
            ],
            table_rows,
            "cells",
        )
    )
    if failures:
        body.append("<h2>Failed trials</h2>")
        body.append(
            _html_table(
                ["trial", "parameters", "error"], [[k, str(v.get("params")), str(v.get("error"))] for k, v in failures.items()]
            )
        )
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(str(plan.get('name') or 'sweep'))} report</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
    index = out / "index.html"
    write_text_atomic(index, page)
    return Report(index, metric, cells, headline, figures, len(rows), len(failures))


__all__ = ["HEADLINE_HEADERS", "Figure", "Report", "headline_rows", "write_report"]
