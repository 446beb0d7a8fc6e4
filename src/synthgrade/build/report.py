"""The build report: one self-contained HTML page with the verdict at the top, then the evidence for it."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from synthgrade.experiment.layout import BuildLayout
from synthgrade.io import write_text_atomic

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
.verdict{font-size:1.35em;font-weight:600;padding:.8em 1em;border-radius:6px;margin:1em 0}
.helped{background:#e6f4ea;border:1px solid #34a853}.not{background:#fef7e0;border:1px solid #f9ab00}
table{border-collapse:collapse;margin:.6em 0 1.4em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.shipped{font-weight:600;background:#eef5ff}
.note{color:#555;font-size:.92em}
"""


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


def _table(headers: list[str], rows: list[list[str]], shipped_rows: set[int] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = ' class="shipped"' if shipped_rows and i in shipped_rows else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_build_report(summary: dict[str, Any]) -> str:
    decision, evaluation = summary["decision"], summary["evaluation"]
    helped = bool(decision.get("ship_synthetic"))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>synthgrade build</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>synthgrade build</h1>",
        f"<div class='verdict {'helped' if helped else 'not'}'>{html.escape(summary['verdict'])}</div>",
        f"<p>{html.escape(decision['reason'])}.</p>",
        f"<p class='note'>Shipped model: <code>{html.escape(summary['model'])}</code>"
        + (f"; student: <code>{html.escape(summary['student'])}</code>" if summary.get("student") else "")
        + f". Rows: {', '.join(f'{k} {v:,}' for k, v in summary['counts'].items())}. "
        "Test rows never reached generation, training or any choice; validation rows only chose. "
        f"Build time {summary['elapsed_s'] / 60:.1f} min.</p>",
    ]
    for test_name, arms in evaluation["tests"].items():
        parts.append(f"<h2>Held-out test set <code>{html.escape(test_name)}</code> (n = {arms['human-only']['n']:,})</h2>")
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
        parts.append(
            _table(["model", "macro-F1 [95% CI]", "accuracy", "kappa", "macro-F1 minus human-only (paired)"], rows, shipped_rows)
        )
    human = summary["human_only"]
    parts.append("<h2>Selection on validation rows</h2>")
    grid_rows = [
        [
            "human-only (" + human["spec"] + ")",
            "–",
            "–",
            "–",
            "–",
            _num(human["val_macro_f1"]),
            _num(decision.get("human_heldout_macro_f1")),
        ]
    ]
    for cell in summary["grid"]:
        grid_rows.append(
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
    parts.append(
        _table(
            [
                "model",
                "strategy",
                "synthetic share",
                "synthetic weight",
                "synthetic rows",
                "validation macro-F1",
                "held-out macro-F1",
            ],
            grid_rows,
        )
    )
    parts.append(
        f"<p class='note'>Held-out macro-F1 and the rule use {decision.get('evidence_rows', 0):,} human rows "
        "no model was fitted on: "
        "the validation rows and, where the scorer cross-validates, out-of-fold predictions of the human training rows. "
        f"Rule: the best cell ships only if the lower {decision['level']:.1%} bound of its paired bootstrap "
        f"validation gain (Bonferroni over {decision['cells']} cells) exceeds the margin. "
        f"Gain {decision['validation_gain']:+.3f}, bound {decision['lower_bound']:+.3f}.</p>"
    )
    parts.append("<h2>Synthetic sets</h2>")
    set_rows = []
    for entry in summary["synthetic_sets"]:
        fidelity = entry.get("label_fidelity")
        set_rows.append(
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
    parts.append(
        _table(
            ["set", "generated", "after cleaning", "dropped by filter", "kept", "label fidelity (human-only scorer)", "note"],
            set_rows or [["none", "", "", "", "", "", "no strategies were run"]],
        )
    )
    config = summary["config"]
    parts.append(
        f"<p class='note'>Generator {html.escape(str(config['generator']))}; strategies {', '.join(config['strategies'])}; "
        f"temperatures {', '.join(map(str, config['temperatures']))}; shares {', '.join(map(str, config['shares']))}; "
        f"synthetic weights {', '.join(map(str, config['weights']))}; "
        f"filter {config['filter']} (p &ge; {config['min_confidence']}). "
        "The model card is <code>model/README.md</code>; all numbers are in <code>build.json</code>.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_build_report(out: str | Path, summary: dict[str, Any]) -> Path:
    path = BuildLayout(out).report
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render_build_report(summary))
    return path
