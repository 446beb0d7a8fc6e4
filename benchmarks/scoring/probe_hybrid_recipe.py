"""Probe: does stacking the strong lexical recipe into the hybrid's seen head help? (held-out rows only)

For each (data set, budget, seed) the bench's draw, the hybrid fitted with and without
``hybrid.features.RECIPE_STACK``, scored on the bench's held-out sample of the official training split outside the
draw (``bench_scorers.py --probe-rows``; never a test row), on the draw's validation rows, and by its own
cross-validation. Rows to ``results/probes/hybrid-recipe.jsonl``, means to ``hybrid-recipe.md``:

    .venv/bin/python benchmarks/scoring/probe_hybrid_recipe.py --datasets scientsbank,beetle --budgets 50,100,400 --seeds 0,1
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import DATASETS, PROBES, ROOT, add_cell_arguments, cells, draw, load_cache, macro_f1  # noqa: E402

OUT = PROBES / "hybrid-recipe"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cell_arguments(parser, budgets="50,100,400")
    parser.add_argument("--datasets", default="scientsbank,beetle")
    parser.add_argument("--encoder", default="minilm-l6")
    parser.add_argument("--probe-rows", type=int, default=800)
    parser.add_argument("--summarise-only", action="store_true")
    args = parser.parse_args()

    from synthgrade.data import load_responses
    from synthgrade.scorers.hybrid import features as hybrid_features
    from synthgrade.train import Trainer, TrainingArguments

    log = OUT.with_suffix(".jsonl")
    previous = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["dataset"], r["budget"], r["seed"]) for r in previous}
    for dataset in [] if args.summarise_only else args.datasets.split(","):
        full = load_responses(DATASETS / f"semeval2013-{dataset}" / "2way" / "train")
        labels = sorted(full["label"].unique())
        load_cache(ROOT / ".cache" / f"embeddings-{dataset}")
        pool = full.sample(n=min(args.probe_rows, len(full)), random_state=1000)
        for budget, seed in cells(args):
            if (dataset, budget, seed) in done:
                continue
            train, val, rest = draw(full, budget, seed, labels)
            held_out = pool[pool.index.isin(rest.index)]
            row = {"dataset": dataset, "labels": "2way", "budget": budget, "seed": seed, "heldout_rows": len(held_out)}
            for stacked in (False, True):
                hybrid_features.RECIPE_STACK = stacked
                training = TrainingArguments(model=f"hybrid:{args.encoder}", show_progress=False, seed=seed, labels=labels)
                scorer = Trainer(training).train(train, val)
                row["recipe" if stacked else "plain"] = {
                    "heldout_macro_f1": round(macro_f1(scorer, held_out)[0], 4),
                    "val_macro_f1": round(macro_f1(scorer, val)[0], 4),
                    "cv_macro_f1": scorer.info.training.get("cv_macro_f1"),
                }
            print(json.dumps(row), flush=True)
            with log.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
    summarise(log)
    return 0


def summarise(log) -> None:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], int(r["budget"]))].append(r)
    lines = [
        "# The lexical recipe stacked into the hybrid's seen head (hybrid:minilm-l6), held-out rows only",
        "",
        "Macro-F1, mean over seeds; held-out = the bench's sample of training-split rows outside the draw.",
        "Written by `benchmarks/scoring/probe_hybrid_recipe.py`.",
        "",
        "| data | budget | seeds | held-out plain | held-out recipe | difference | validation plain | validation recipe |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, budget), part in sorted(groups.items()):

        def mean(variant: str, key: str, part: list[dict] = part) -> float:
            return float(np.mean([r[variant][key] for r in part]))

        plain, recipe = mean("plain", "heldout_macro_f1"), mean("recipe", "heldout_macro_f1")
        lines.append(
            f"| {dataset} | {budget} | {len(part)} | {plain:.3f} | {recipe:.3f} | {recipe - plain:+.3f} | "
            f"{mean('plain', 'val_macro_f1'):.3f} | {mean('recipe', 'val_macro_f1'):.3f} |"
        )
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
