"""The build report: one self-contained HTML page with the verdict at the top, then the evidence for it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from synthgrade.build.layout import BuildLayout
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


def readme_href(anchor: str, report_path: Path | None = None) -> str:
    """A link to a README section: relative to the report when the README of a source checkout is found, else by name."""
    readme = Path(__file__).resolve().parents[3] / "README.md"
    if not readme.is_file():
        return f"README.md#{anchor}"
    if report_path is not None:
        try:
            return Path(os.path.relpath(readme, report_path.resolve().parent)).as_posix() + f"#{anchor}"
        except ValueError:  # another drive (Windows)
            pass
    return readme.as_uri() + f"#{anchor}"


def what_the_build_did(summary: dict[str, Any]) -> list[str]:
    """A few lines on what the build did: rows, human-only scorer, synthetic rows kept, augmented models judged."""
    counts, human, decision = summary["counts"], summary["human_only"], summary["decision"]
    tests = ", ".join(f"{k} {v:,}" for k, v in counts.items() if k not in ("train", "val"))
    lines = [
        f"split the human-coded rows: {counts['train']:,} training, {counts['val']:,} validation, test rows set aside ({tests})",
        f"trained the human-only scorer: {human['spec']} (validation macro-F1 {human['val_macro_f1']:.3f})",
    ]
    sets = [s for s in summary["synthetic_sets"] if s.get("strategy") != "self-training"]
    for entry in summary["synthetic_sets"]:
        if entry.get("strategy") == "self-training":
            lines.append(
                f"pseudo-labelled {entry.get('rows', 0)} of {entry.get('usable_pool', 0)} uncoded responses with the "
                f"human-only scorer (top probability >= {entry.get('threshold', 0):g}, chosen on the validation rows)"
            )
    if sets:
        kept = ", ".join(
            f"{s['name']} {s.get('rows', 0)} of {s.get('generated', 0) or 0}"
            if not s.get("skipped")
            else f"{s['name']} skipped ({s['skipped']})"
            for s in sets
        )
        lines.append(
            f"generated synthetic rows with {summary['config']['generator']}; kept after cleaning and the filter: {kept}"
        )
    trained = [c for c in summary["grid"] if "val_macro_f1" in c]
    skipped = [c for c in summary["grid"] if c.get("skipped") or c.get("failed")]
    if summary["grid"]:
        lines.append(
            f"trained and judged {len(trained)} augmented model(s) on {decision.get('evidence_rows', 0):,} held-out human rows"
            + (f"; {len(skipped)} skipped or failed" if skipped else "")
        )
    lines.append(f"shipped {summary['shipped']} and evaluated every model once on the test rows")
    return lines


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


def render_build_report(summary: dict[str, Any], report_path: Path | None = None) -> str:
    """The build report page (``templates/build.html``): the verdict first, then the evidence for it."""
    decision, evaluation = summary["decision"], summary["evaluation"]
    outcome = summary["outcome"]
    return render_page(
        "build.html",
        case=outcome["case"],
        verdict=summary["verdict"],
        reason=decision["reason"],
        did=what_the_build_did(summary),
        next_steps=[{"text": step["text"], "href": readme_href(step["readme"], report_path)} for step in outcome["next_steps"]],
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
    write_text_atomic(path, render_build_report(summary, path))
    return path
