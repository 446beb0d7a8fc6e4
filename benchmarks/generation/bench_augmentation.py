"""Benchmark: does offline augmentation help, and does ``build`` ship it only when it does? SciEntsBank 2-way.

For each (budget, seed): the same stratified draw as ``bench_scorers.py`` (``budget`` rows of the official
training split, 20 % of them as human validation), then ``synthgrade build`` on exactly those rows
(:func:`synthgrade.build.run_build` with the official unseen-answers and unseen-questions tests as its
untouched test sets). Arms per test:

* ``human_only``: the human-only scorer build trained (``auto`` over tfidf and the two hybrids);
* ``build``: what build shipped (human-only unless the paired validation bootstrap supported a gain);
* one arm per strategy: its best cell (share x synthetic weight) on the held-out human rows build decides on
  (validation + out-of-fold training rows), whether or not it shipped.

Each row has ``macro_f1`` and the paired test difference against human-only with its 95 % bootstrap CI.
Builds live in ``.cache/bench-augmentation/`` and resume after a kill; rows go to ``augmentation.jsonl``
as cells finish; the summary (means over seeds with t-intervals) to ``augmentation.json`` and ``.md``.

    .venv/bin/python benchmarks/generation/bench_augmentation.py --budgets 50,100,400 --seeds 0,1,2
    .venv/bin/python benchmarks/generation/bench_augmentation.py --demo            # the built-in example only
    .venv/bin/python benchmarks/generation/bench_augmentation.py --summarise-only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import DATA, EMBEDDINGS, RESULTS, ROOT, draw, load_cache, save_cache  # noqa: E402

TESTS = {"unseen_answers": "test-unseen-answers", "unseen_questions": "test-unseen-questions"}
CANDIDATES = ["tfidf", "hybrid:minilm-l6", "hybrid:mpnet-base"]


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--budgets", default="50,100,400")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--generator", default=None, help="Default: the registry's default generator.")
    parser.add_argument("--backend", default=None, help="Default: the generate stage's default backend.")
    parser.add_argument("--strategies", default="paraphrase,contrast")
    parser.add_argument("--shares", default="0.5")
    parser.add_argument("--weights", default="0.5,1")
    parser.add_argument("--demo", action="store_true", help="Run the built-in tutor-training example only.")
    parser.add_argument("--embedding-cache", type=Path, default=EMBEDDINGS)
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "bench-augmentation")
    parser.add_argument("--out", type=Path, default=RESULTS / "augmentation.json")
    parser.add_argument("--summarise-only", action="store_true")
    parser.add_argument(
        "--recompute", action="store_true", help="Rewrite the jsonl from the finished builds in --work (their build.json)."
    )
    return parser.parse_args()


def config_for(args: argparse.Namespace, seed: int) -> Any:
    from synthgrade.build import BuildConfig

    settings: dict[str, Any] = {
        "seed": seed,
        "candidates": CANDIDATES,
        "strategies": args.strategies.split(","),
        "shares": [float(s) for s in args.shares.split(",")],
        "weights": [float(w) for w in args.weights.split(",")],
        "student": "none",
        "time_budget": 240.0,
        "bootstrap": 1000,
    }
    if args.generator:
        settings["generator"] = args.generator
    if args.backend:
        settings["backend"] = args.backend
    return BuildConfig(**settings)


def arm_rows(result: Any, budget: str, seed: int) -> list[dict[str, Any]]:
    """One row per (test, arm) from a finished build."""
    summary = result.summary
    grid = [c for c in summary["grid"] if c.get("val_macro_f1") is not None]
    best_per_strategy: dict[str, dict] = {}

    def heldout(cell: dict) -> tuple[float, int]:
        return (cell.get("heldout_macro_f1", cell["val_macro_f1"]), -cell["synthetic_rows"])

    for cell in grid:
        current = best_per_strategy.get(cell["strategy"])
        if current is None or heldout(cell) > heldout(current):
            best_per_strategy[cell["strategy"]] = cell
    sets = {s["name"]: s for s in summary["synthetic_sets"]}
    rows = []
    for test, arms in summary["evaluation"]["tests"].items():
        entries = {"human_only": ("human-only", arms["human-only"]), "build": (result.shipped, arms["shipped"])}
        entries |= {strategy: (cell["key"], arms[cell["key"]]) for strategy, cell in best_per_strategy.items()}
        for arm, (source, entry) in entries.items():
            diff = (entry.get("diff_vs_human_only") or {}).get("macro_f1")
            cell = next((c for c in grid if c["key"] == source), None)
            synthetic_set = sets.get(cell["set"]) if cell else None
            rows.append(
                {
                    "budget": budget,
                    "seed": seed,
                    "test": test,
                    "arm": arm,
                    "model": source,
                    "human_only_model": summary["human_only"]["spec"],
                    "macro_f1": round(entry["macro_f1"]["value"], 4),
                    "diff_vs_human_only": round(diff["value"], 4) if diff else 0.0,
                    "diff_ci_low": round(diff["ci_low"], 4) if diff else 0.0,
                    "diff_ci_high": round(diff["ci_high"], 4) if diff else 0.0,
                    "val_macro_f1": cell["val_macro_f1"] if cell else summary["human_only"]["val_macro_f1"],
                    "heldout_macro_f1": cell.get("heldout_macro_f1")
                    if cell
                    else summary["decision"].get("human_heldout_macro_f1"),
                    # What build itself sees (validation + out-of-fold human rows; no test row): the gain it decides on.
                    "heldout_gain": round(cell["heldout_macro_f1"] - summary["decision"]["human_heldout_macro_f1"], 4)
                    if cell and cell.get("heldout_macro_f1") is not None
                    else 0.0,
                    "synthetic_rows": cell["synthetic_rows"] if cell else 0,
                    "synthetic_weight": cell["weight"] if cell else None,
                    "label_fidelity": synthetic_set.get("label_fidelity") if synthetic_set else None,
                    "shipped_synthetic": bool(result.ship_synthetic),
                    "build_seconds": summary["elapsed_s"],
                }
            )
    return rows


def generation_rows(result: Any, budget: str, seed: int) -> list[dict[str, Any]]:
    out = []
    for entry in result.summary["synthetic_sets"]:
        out.append(
            {
                "budget": budget,
                "seed": seed,
                "set": entry["name"],
                "generated": entry.get("generated"),
                "kept_after_cleaning": entry.get("kept_after_cleaning"),
                "kept_after_filter": entry.get("rows"),
                "label_fidelity": entry.get("label_fidelity"),
            }
        )
    return out


def summarise(rows: list[dict], generation: list[dict], out: Path) -> None:
    import pandas as pd

    from synthgrade.io import write_json
    from synthgrade.metrics import t_interval

    frame = pd.DataFrame(rows)
    summary = []
    for (budget, test, arm), group in frame.groupby(["budget", "test", "arm"], sort=False):
        mean, low, high = t_interval(group["macro_f1"].tolist())
        d_mean, d_low, d_high = t_interval(group["diff_vs_human_only"].tolist())
        summary.append(
            {
                "budget": budget,
                "test": test,
                "arm": arm,
                "seeds": int(group["seed"].nunique()),
                "macro_f1": round(mean, 4),
                "ci_low": None if low != low else round(low, 4),
                "ci_high": None if high != high else round(high, 4),
                "diff_vs_human_only": round(d_mean, 4),
                "diff_ci_low": None if d_low != d_low else round(d_low, 4),
                "diff_ci_high": None if d_high != d_high else round(d_high, 4),
                "shipped_synthetic_share": round(float(group["shipped_synthetic"].mean()), 2),
                "heldout_gain": round(float(group["heldout_gain"].mean()), 4) if "heldout_gain" in group else None,
            }
        )
    write_json(out, {"rows": rows, "generation": generation, "summary": summary, "written": time.strftime("%Y-%m-%d %H:%M")})
    lines = [
        "# Augmentation benchmark (SciEntsBank 2-way; mean macro-F1 over seeds, 95 % t-interval; paired diff vs human-only)",
        "",
        "| budget | test | arm | seeds | macro-F1 | diff vs human-only | held-out gain build saw | shipped synthetic |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        ci = f" [{s['ci_low']:.3f}, {s['ci_high']:.3f}]" if s["ci_low"] is not None else ""
        dci = f" [{s['diff_ci_low']:+.3f}, {s['diff_ci_high']:+.3f}]" if s["diff_ci_low"] is not None else ""
        lines.append(
            f"| {s['budget']} | {s['test']} | {s['arm']} | {s['seeds']} | {s['macro_f1']:.3f}{ci} | "
            f"{s['diff_vs_human_only']:+.3f}{dci} | {'–' if s['heldout_gain'] is None else format(s['heldout_gain'], '+.3f')} | "
            f"{s['shipped_synthetic_share']:.0%} |"
        )
    if generation:
        gen = pd.DataFrame(generation)
        lines += [
            "",
            "Synthetic sets (means over seeds):",
            "",
            "| budget | set | generated | after cleaning | after filter | label fidelity |",
            "|---|---|---|---|---|---|",
        ]
        for (budget, name), group in gen.groupby(["budget", "set"], sort=False):
            fidelity = group["label_fidelity"].dropna()
            lines.append(
                f"| {budget} | {name} | {group['generated'].mean():.0f} | {group['kept_after_cleaning'].mean():.0f} | "
                f"{group['kept_after_filter'].mean():.0f} | {'–' if fidelity.empty else f'{fidelity.mean():.0%}'} |"
            )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out} and {out.with_suffix('.md')}")


def main() -> int:
    args = parse()
    log = args.out.with_suffix(".jsonl")
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    rows = [r for r in records if r.get("kind") == "arm"]
    generation = [r for r in records if r.get("kind") == "generation"]
    if args.recompute:
        from types import SimpleNamespace

        rows, generation, lines = [], [], []
        def order(path: Path) -> tuple:
            budget, seed = path.parent.name.rsplit("-", 1)
            return (not budget.isdigit(), int(budget) if budget.isdigit() else 0, int(seed))

        for build_json in sorted(args.work.glob("*/build.json"), key=order):
            budget, seed = build_json.parent.name.rsplit("-", 1)
            summary = json.loads(build_json.read_text())
            result = SimpleNamespace(
                summary=summary, shipped=summary["shipped"], ship_synthetic=summary["decision"]["ship_synthetic"]
            )
            new = [r | {"kind": "arm"} for r in arm_rows(result, budget, int(seed))]
            new += [r | {"kind": "generation"} for r in generation_rows(result, budget, int(seed))]
            lines += [json.dumps(r) for r in new]
            rows += [r for r in new if r["kind"] == "arm"]
            generation += [r for r in new if r["kind"] == "generation"]
        log.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        summarise(rows, generation, args.out)
        return 0
    if args.summarise_only:
        summarise(rows, generation, args.out)
        return 0

    from synthgrade.build import BuildData, load_build_data, run_build
    from synthgrade.data import load_responses
    from synthgrade.data.schema import LABEL, label_order

    load_cache(args.embedding_cache)
    done = {(str(r["budget"]), r["seed"]) for r in rows}

    def record(result: Any, budget: str, seed: int) -> None:
        new = [r | {"kind": "arm"} for r in arm_rows(result, budget, seed)]
        new += [r | {"kind": "generation"} for r in generation_rows(result, budget, seed)]
        with log.open("a", encoding="utf-8") as handle:
            for row in new:
                handle.write(json.dumps(row) + "\n")
        rows.extend(r for r in new if r["kind"] == "arm")
        generation.extend(r for r in new if r["kind"] == "generation")
        for r in new:
            if r["kind"] == "arm":
                print(
                    f"{budget} seed {seed} {r['test']} {r['arm']}: {r['macro_f1']:.3f} ({r['diff_vs_human_only']:+.3f})",
                    flush=True,
                )

    if args.demo:
        if ("demo", 0) not in done:
            example = ROOT / "src" / "synthgrade" / "examples" / "tutor-errors" / "responses.csv"
            config = config_for(args, 0).model_copy(update={"candidates": None})
            bd = load_build_data(example, config)
            record(run_build(bd, args.work / "demo-0", config), "demo", 0)
        summarise(rows, generation, args.out)
        return 0

    full = load_responses(args.data / "train")
    labels = label_order(full[LABEL].dropna().astype(str))
    tests = {name: load_responses(args.data / "test" / folder) for name, folder in TESTS.items()}
    for budget in args.budgets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            if (budget, seed) in done:
                continue
            train, val, _ = draw(full, budget, seed, labels)
            for part in (train, val, *tests.values()):
                part.attrs["labels"] = labels
            bd = BuildData(train.reset_index(drop=True), val.reset_index(drop=True), tests, labels, source=str(args.data))
            started = time.perf_counter()
            result = run_build(bd, args.work / f"{budget}-{seed}", config_for(args, seed))
            print(f"budget {budget} seed {seed}: build in {time.perf_counter() - started:.0f} s", flush=True)
            record(result, budget, seed)
            save_cache(args.embedding_cache)
            summarise(rows, generation, args.out)
    summarise(rows, generation, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
