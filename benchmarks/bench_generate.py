"""Benchmark: label-conditional generation on the SciEntsBank training split at temperatures 0.3 and 0.9.

For each temperature, generates with a fresh cache (so every call really runs) for the first ``--items``
questions of the 2-way training split (human rows only; the official test sets are the leakage guard's
--exclude rows), then reruns the same command against the filled cache. Records samples/s (per wall
second and per second of generation), tokens/s, model load time, peak memory, removal counts by reason
and the diversity diagnostics; writes ``benchmarks/results/generate.json``.

    .venv/bin/python benchmarks/bench_generate.py                          # 10 items, local SmolLM2
    .venv/bin/python benchmarks/bench_generate.py --items 4 --per-label 4  # quick look
    .venv/bin/python benchmarks/bench_generate.py --backend llamacpp       # llama-cpp-python, if installed
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "semeval2013-scientsbank" / "2way"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="SciEntsBank 2way folder (train/ and test/).")
    parser.add_argument("--items", type=int, default=10, help="Questions of the training split to generate for (budget).")
    parser.add_argument("--per-label", type=int, default=5)
    parser.add_argument("--per-call", type=int, default=5)
    parser.add_argument("--examples", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--max-rounds", type=int, default=1, help="1 = no top-up rounds, so the call count is fixed.")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.3, 0.9])
    parser.add_argument("--backend", default="local", choices=["local", "llamacpp"])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "generate.json")
    return parser.parse_args()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    args = parse()
    sys.path.insert(0, str(ROOT / "src"))
    import pandas as pd

    from synthgrade.data import load_responses
    from synthgrade.generate import GenerationConfig, generate_synthetic
    from synthgrade.io import write_json

    train_all = load_responses(args.data / "train")
    items = sorted(train_all["item_id"].unique())[: args.items]
    train = train_all[train_all["item_id"].isin(items)].reset_index(drop=True)
    train.attrs["labels"] = train_all.attrs.get("labels")
    tests = [load_responses(p, require_label=False) for p in sorted((args.data / "test").iterdir()) if p.is_dir()]
    exclude = [pd.concat(tests, ignore_index=True)] if tests else []
    runs: list[dict[str, Any]] = []
    for temperature in args.temperatures:
        config = GenerationConfig(
            backend=args.backend,
            model=args.model,
            temperature=temperature,
            per_label=args.per_label,
            per_call=args.per_call,
            examples=args.examples,
            max_tokens=args.max_tokens,
            max_rounds=args.max_rounds,
            batch_size=args.batch_size,
            seed=args.seed,
        )
        with tempfile.TemporaryDirectory() as cache:
            started = time.perf_counter()
            result = generate_synthetic(train, config, exclude, cache_dir=Path(cache), show_progress=True)
            fresh_s = time.perf_counter() - started
            started = time.perf_counter()
            cached = generate_synthetic(train, config, exclude, cache_dir=Path(cache), show_progress=False)
            cached_s = time.perf_counter() - started
        summary = result.summary
        calls = summary["calls"]
        runs.append(
            {
                "temperature": temperature,
                "groups": summary["groups"],
                "requested": summary["requested"],
                "model_calls": summary["model_calls"],
                "generated": summary["generated"],
                "kept": summary["kept"],
                "removed": summary["removed"],
                "wall_time_s": round(fresh_s, 2),
                "generated_per_s": round(summary["generated"] / fresh_s, 3),
                "kept_per_s": round(summary["kept"] / fresh_s, 3),
                "completion_tokens": calls["tokens"]["completion"],
                "prompt_tokens": calls["tokens"]["prompt"],
                "completion_tokens_per_s": calls["completion_tokens_per_s"],
                "model_load_s": calls["model_load_s"],
                "generation_s": calls["model_seconds"],
                "generated_per_generation_s": round(summary["generated"] / calls["model_seconds"], 3)
                if calls["model_seconds"]
                else None,
                "truncated_calls": calls["truncated"],
                "failed_calls": calls["failed"],
                "peak_rss_mb_so_far": round(peak_rss_mb(), 1),
                "cached_rerun": {
                    "wall_time_s": round(cached_s, 2),
                    "model_calls": cached.summary["model_calls"],
                    "model_loaded": cached.summary["model_loaded"],
                    "identical_rows": bool(cached.frame.equals(result.frame)),
                },
                "diagnostics": summary["diagnostics"],
                "example_rows": result.frame.head(6)[["label", "item_id", "text"]].to_dict("records"),
            }
        )
        print(
            f"T={temperature}: {summary['generated']} generated, {summary['kept']} kept in {fresh_s:.1f} s "
            f"({calls['completion_tokens_per_s']} completion tok/s); cached rerun {cached_s:.1f} s",
            flush=True,
        )
    import torch

    write_json(
        args.out,
        {
            "benchmark": "generate",
            "command": " ".join(["benchmarks/bench_generate.py", *sys.argv[1:]]),
            "budget": {
                "items": len(items),
                "training_rows_used": len(train),
                "per_label": args.per_label,
                "per_call": args.per_call,
                "examples": args.examples,
                "max_tokens": args.max_tokens,
                "max_rounds": args.max_rounds,
                "exclude_rows": int(sum(len(t) for t in exclude)),
            },
            "backend": args.backend,
            "model": args.model,
            "machine": {
                "platform": platform.platform(),
                "cpus": __import__("os").cpu_count(),
                "torch_threads": torch.get_num_threads(),
            },
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "runs": runs,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
