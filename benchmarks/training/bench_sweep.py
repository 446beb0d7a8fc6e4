"""Benchmark: a reduced grid of the paper's experiments on SciEntsBank, with its report.

Low human budget, synthetic share 0 / 50 / 80 %, temperatures 0.3 / 0.9, 3 seeds, MiniLM teacher,
static student, scored on the official test-unseen-answers split. The full grid is slow on a CPU, so
every size is an option; the figures written to benchmarks/results/bench_sweep.json say exactly what
ran (the command line, the grid, data sizes) with the headline table and the wall time.

    python benchmarks/training/bench_sweep.py                       # defaults below (reduced: 8 items)
    python benchmarks/training/bench_sweep.py --items 0 --budget 16 # every item
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import RESULTS, ROOT, SCIENTSBANK  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", choices=["2way", "3way"], default="2way")
    parser.add_argument("--items", type=int, default=8, help="items drawn from the 135 (0 = all)")
    parser.add_argument("--budget", default="8", help="human rows per item ('all' for every row)")
    parser.add_argument("--ratios", default="0,0.5,0.8")
    parser.add_argument("--temperatures", default="0.3,0.9")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--backend", default="local", help="local (transformers), llamacpp, or openai (with --model/--base-url)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--teacher", default="minilm-l6")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--student", default="static", help="student model ('' for none)")
    parser.add_argument(
        "--max-test-rows", type=int, default=0, help="subsample the test split (0 = all rows of the chosen items)"
    )
    parser.add_argument(
        "--per-label", default="auto", help="synthetic responses per label per item ('auto' = enough for the top ratio)"
    )
    parser.add_argument("--share-across-seeds", action="store_true", help="one synthetic set per temperature for all seeds")
    parser.add_argument("--max-tokens", type=int, default=None, help="generation max tokens per call")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and its estimated cost, run nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-sweep")
    parser.add_argument("--results", type=Path, default=RESULTS / "bench_sweep.json")
    args = parser.parse_args(argv)

    from synthgrade.experiment import run_sweep, sweep_config_from_dict
    from synthgrade.report import headline_rows, write_report

    budget = args.budget if args.budget == "all" else int(args.budget)
    config = sweep_config_from_dict(
        {
            "name": "bench-sweep-scientsbank",
            "data": {
                "path": str(SCIENTSBANK / args.labels / "train"),
                "test_path": str(SCIENTSBANK / args.labels / "test" / "test-unseen-answers"),
                "split": {"by": "answer", "seed": 0, "val": 0.15, "test": 0.0},
                "max_items": args.items or None,
                "max_test_rows": args.max_test_rows or None,
            },
            "generation": {
                "backend": args.backend,
                "model": args.model,
                "base_url": args.base_url,
                "temperatures": [float(t) for t in args.temperatures.split(",")],
                "per_label": args.per_label if args.per_label == "auto" else int(args.per_label),
                "share_across_seeds": args.share_across_seeds,
                "max_tokens": args.max_tokens,
            },
            "mix": {"ratios": [float(r) for r in args.ratios.split(",")], "mode": "addon"},
            "human_budgets": [budget],
            "teacher": {"model": args.teacher, "epochs": args.epochs, "max_length": args.max_length},
            "students": [{"model": args.student}] if args.student else [],
            "seeds": [int(s) for s in args.seeds.split(",")],
        },
        "bench_sweep",
    )
    if args.dry_run:
        from synthgrade.commands.experiment import print_plan
        from synthgrade.experiment import plan_sweep

        print_plan(plan_sweep(config, args.out), args.out)
        return 0
    started = time.perf_counter()
    result = run_sweep(config, args.out)
    sweep_seconds = time.perf_counter() - started
    report = write_report(args.out)
    wall = time.perf_counter() - started
    plan = json.loads((args.out / "plan.json").read_text())
    figures = {
        "command": "python benchmarks/training/bench_sweep.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {platform.system()}, cpu count {__import__('os').cpu_count()}",
        "grid": {
            "labels": args.labels,
            "items": args.items or "all",
            "human_budget_per_item": budget,
            "ratios": args.ratios,
            "temperatures": args.temperatures,
            "seeds": args.seeds,
            "generator": f"{args.backend}:{args.model}",
            "teacher": args.teacher,
            "student": args.student or None,
            "epochs": args.epochs,
            "share_across_seeds": args.share_across_seeds,
        },
        "data": plan["data"],
        "trials": {
            "total": len(result.plan.trials),
            "ran": len(result.ran),
            "reused": len(result.skipped),
            "failed": len(result.failed),
        },
        "wall_time_s": round(wall, 1),
        "sweep_time_s_this_run": round(sweep_seconds, 1),
        "metric": report.metric,
        "headline": [
            dict(zip(["human_budget", "setting", "seeds", "mean_ci", "diff_vs_human_ci"], row, strict=True))
            for row in headline_rows(report.headline)
        ],
        "report": str(report.path),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    from synthgrade.io import write_json

    write_json(args.results, figures)
    print(json.dumps(figures, indent=2))
    return 0 if result.complete else 1


if __name__ == "__main__":
    sys.exit(main())
