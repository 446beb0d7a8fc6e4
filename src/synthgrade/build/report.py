"""The build report: one self-contained HTML page with the verdict at the top, then the evidence for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthgrade.experiment.layout import BuildLayout
from synthgrade.io import write_text_atomic
from synthgrade.report.html import render_page


def _num(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _interval(entry: dict[str, Any] | None, signed: bool = False) -> str:
    if not entry or entry.get("value") is None:
        return "–"
    fmt = "+.3f" if signed else ".3f"
    text = format(entry["value"], fmt)
    if entry.get("ci_low") is not None:
        text += f" [{format(entry['ci_low'], fmt)}, {format(entry['ci_high'], fmt)}]"
    return text


def verdict_text(decision: dict[str, Any], evaluation: dict[str, Any]) -> str:
    """ "synthetic data helped: +x [ci]" (on the first test set) or "synthetic data did not help; ..."."""
    if not decision.get("ship_synthetic"):
        return "synthetic data did not help; shipped the human-only model"
    first = next(iter(evaluation["tests"].values()))
    diff = first["shipped"].get("diff_vs_human_only", {}).get("macro_f1")
    shipped = decision["shipped"]
    return f"synthetic data helped: {_interval(diff, signed=True)} macro-F1 on the held-out test rows (shipped {shipped})"


def _test_sections(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """One table per held-out test set: every arm's metrics and its paired difference to human-only."""
    sections = []
    for test_name, arms in evaluation["tests"].items():
        rows, shipped_rows = [], set()
        for i, (name, entry) in enumerate((k, v) for k, v in arms.items() if k != "shipped"):
            if name == evaluation["shipped"]:
                shipped_rows.add(i)
            diff = entry.get("diff_vs_human_only", {}).get("macro_f1")
            rows.append(
                [
                    name,
                    _interval(entry["macro_f1"]),
                    _interval(entry["accuracy"]),
                    _interval(entry["kappa"]),
                    _interval(diff, True),
                ]
            )
        sections.append({"name": test_name, "n": f"{arms['human-only']['n']:,}", "rows": rows, "shipped_rows": shipped_rows})
    return sections


def _grid_rows(summary: dict[str, Any]) -> list[list[str]]:
    """The human-only model, then every grid cell, with their validation and held-out macro-F1."""
    human, decision = summary["human_only"], summary["decision"]
    rows = [
        [
            f"human-only ({human['spec']})",
            *["–"] * 4,
            _num(human["val_macro_f1"]),
            _num(decision.get("human_heldout_macro_f1")),
        ]
    ]
    for cell in summary["grid"]:
        rows.append(
            [
                cell["key"],
                str(cell.get("strategy", "–")),
                _num(cell.get("achieved_share"), 2),
                _num(cell.get("weight"), 2),
                str(cell.get("synthetic_rows", "–")),
                cell.get("skipped") or cell.get("failed") or _num(cell.get("val_macro_f1")),
                _num(cell.get("heldout_macro_f1")),
            ]
        )
    return rows


def _set_rows(summary: dict[str, Any]) -> list[list[str]]:
    rows = []
    for entry in summary["synthetic_sets"]:
        fidelity = entry.get("label_fidelity")
        rows.append(
            [
                entry["name"],
                str(entry.get("generated", "–")),
                str(entry.get("kept_after_cleaning", "–")),
                str(entry.get("filter_removed", "–")),
                str(entry.get("rows", 0)),
                "–" if fidelity is None else f"{fidelity:.0%}",
                entry.get("skipped") or entry.get("why_empty") or "",
            ]
        )
    return rows or [["none", "", "", "", "", "", "no strategies were run"]]


def render_build_report(summary: dict[str, Any]) -> str:
    """The build report page (``templates/build.html``): the verdict first, then the evidence for it."""
    decision, evaluation = summary["decision"], summary["evaluation"]
    return render_page(
        "build.html",
        helped=bool(decision.get("ship_synthetic")),
        verdict=summary["verdict"],
        reason=decision["reason"],
        model=summary["model"],
        student=summary.get("student"),
        rows=", ".join(f"{k} {v:,}" for k, v in summary["counts"].items()),
        minutes=f"{summary['elapsed_s'] / 60:.1f}",
        tests=_test_sections(evaluation),
        grid_rows=_grid_rows(summary),
        rule={
            "evidence_rows": f"{decision.get('evidence_rows', 0):,}",
            "level": f"{decision['level']:.1%}",
            "cells": decision["cells"],
            "gain": f"{decision['validation_gain']:+.3f}",
            "bound": f"{decision['lower_bound']:+.3f}",
        },
        set_rows=_set_rows(summary),
        config=summary["config"],
    )


def write_build_report(out: str | Path, summary: dict[str, Any]) -> Path:
    path = BuildLayout(out).report
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render_build_report(summary))
    return path
