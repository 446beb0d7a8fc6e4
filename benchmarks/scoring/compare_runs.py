"""Compare two runs of ``bench_scorers.py`` cell by cell: mean macro-F1 per (dataset, labels, budget, test, model)
over the seeds both runs have, and the difference. Used to check that a refactor keeps quality (issue 23: ``auto``
within 0.01 of, or above, the committed means on every test).

    .venv/bin/python benchmarks/scoring/compare_runs.py benchmarks/results/scorers.jsonl \\
        benchmarks/results/scorers-cv-refactor.jsonl --models auto[pooled],strong-lexical,tfidf,hybrid:minilm-l6 \\
        --out benchmarks/results/scorers-cv-refactor-compare.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def cells(path: Path, models: set[str]) -> dict[tuple, dict[int, float]]:
    """(dataset, labels, budget, test, model) -> seed -> macro-F1 (a repeated seed keeps its last row)."""
    out: dict[tuple, dict[int, float]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row["model"] in models:
            key = (row.get("dataset", "scientsbank"), row.get("labels", "2way"), str(row["budget"]), row["test"], row["model"])
            out[key][int(row["seed"])] = float(row["macro_f1"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--models", default="auto[pooled],strong-lexical,tfidf,hybrid:minilm-l6")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    models = {m.strip() for m in args.models.split(",") if m.strip()}
    before, after = cells(args.before, models), cells(args.after, models)
    lines = [
        f"# {args.after.name} against {args.before.name}: mean macro-F1 over the seeds both runs have",
        "",
        f"Written by `benchmarks/scoring/compare_runs.py {args.before} {args.after}`.",
        "",
        "| dataset | labels | budget | test | model | seeds | before | after | after - before |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(after):
        seeds = sorted(set(after[key]) & set(before.get(key, {})))
        if not seeds:
            continue
        old = statistics.mean(before[key][s] for s in seeds)
        new = statistics.mean(after[key][s] for s in seeds)
        lines.append(f"| {' | '.join(key)} | {len(seeds)} | {old:.4f} | {new:.4f} | {new - old:+.4f} |")
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
