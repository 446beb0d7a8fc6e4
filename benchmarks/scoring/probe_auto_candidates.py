"""Which candidates and decision rule ``auto`` keeps: the held-out figures that ``bench_scorers.py`` records.

``bench_scorers.py`` scores every candidate of a cell (tfidf, lexical, hybrids, their ensemble) and every
variant of the selection rule (:data:`bench_scorers.VARIANTS`) on rows of the official training split outside
the cell's draw (``results/probes/auto-candidates.jsonl``; never a test row). This script averages them per
data set and budget over seeds and writes ``results/probes/auto-candidates.md``:

    .venv/bin/python benchmarks/scoring/probe_auto_candidates.py
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import PROBES  # noqa: E402


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    path = PROBES / "auto-candidates.jsonl"
    cells = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    latest = {(c["dataset"], c["labels"], c["budget"], c["seed"]): c for c in cells}  # a rerun replaces a cell
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for (dataset, labels, budget, _), cell in sorted(latest.items(), key=lambda kv: (kv[0][:2], int(kv[0][2]), kv[0][3])):
        groups[(dataset, labels, budget)].append(cell)
    lines = [
        "# auto's candidates and decision rule on held-out training-split rows (macro-F1, mean over seeds)",
        "",
        "Rows of the official training split outside each draw (never a test row); written by",
        "`benchmarks/scoring/probe_auto_candidates.py` from `auto-candidates.jsonl` (`benchmarks/scoring/bench_scorers.py`).",
        "Rules: `tie` (validation first, cross-validation within its noise) or `pooled` (cross-validation",
        "pooled with validation for every candidate); candidate sets: all, no ensemble, no lexical (the earlier set).",
    ]
    overall: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (dataset, labels, budget), part in groups.items():
        specs = list(dict.fromkeys(spec for c in part for spec in c["candidates"]))
        rules = list(dict.fromkeys(rule for c in part for rule in c["rules"]))
        lines += ["", f"## {dataset} {labels}, budget {budget} ({len(part)} seeds, {part[0]['heldout_rows']} held-out rows)", ""]
        lines += ["| candidate or rule | held-out macro-F1 | chosen (per seed) |", "|---|---|---|"]
        for spec in specs:
            values = [c["candidates"].get(spec, {}).get("heldout_macro_f1") for c in part]
            values = [v for v in values if v is not None]
            weights = [c["candidates"][spec].get("weight") for c in part if spec in c["candidates"]]
            note = f"{len(values)} of {len(part)} seeds (built where the out-of-fold weight mixed both); weights {weights}"
            lines.append(f"| {spec} | {np.mean(values):.3f} | {note if spec.startswith('ensemble') else ''} |")
        for rule in rules:
            values = [c["rules"][rule]["heldout_macro_f1"] for c in part if rule in c["rules"]]
            overall[(f"{dataset} {labels}", rule)].append(float(np.mean(values)))
            chosen = ", ".join(c["rules"][rule]["chosen"] for c in part if rule in c["rules"])
            lines.append(f"| **{rule}** | {np.mean(values):.3f} | {chosen} |")
    lines += ["", "## Mean over budgets", "", "| data | rule | held-out macro-F1 |", "|---|---|---|"]
    lines += [f"| {dataset} | {rule} | {np.mean(values):.4f} |" for (dataset, rule), values in overall.items()]
    (PROBES / "auto-candidates.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
