"""Benchmark: ``predict`` speed and macro-F1 of the model ``auto`` ships at 400 SciEntsBank 2-way rows, with its
sentence encoder in PyTorch, in onnxruntime (fp32) and in onnxruntime (dynamic int8).

The draw is that of ``bench_scorers.py`` (budget 400, seed 0: 320 training rows, 80 human validation rows).
Models are trained with the encoder in PyTorch (the unaccelerated model) and saved under ``--work``
(default ``/tmp/synthgrade-bench-predict``); a rerun loads them instead of training again. Besides ``auto``'s
pick at seed 0 (``lexical`` when last run), ``ensemble:hybrid:minilm-l6+lexical`` on the draw of seed 1 (what
auto ships at this budget with seeds 1 and 2 in ``scorers.jsonl``; on the seed-0 draw the ensemble's weight
leaves the hybrid out) and the two hybrids alone on the seed-0 draw are measured (``--models``).

Timing: :func:`synthgrade.predict.predict_file` (read the CSV, score, write the CSV, as ``synthgrade predict``
does) on the unseen-answers test (540 rows), after a warm-up run on its first 16 rows (which loads the model,
and exports the ONNX graph into the cache the first time). Before every timed run the in-process embedding
memo is emptied and the scorer loaded again, so each run embeds every distinct text and item once, as a
fresh ``predict`` process does (repeated texts within the run are embedded once).

- ``responses_per_s``: rows / the fastest of ``--repeats`` runs (the median is recorded too), with the load
  average before and after: the machine has 2 cores, possibly shared with other work;
- ``responses_per_cpu_s``: rows / the process CPU time of the fastest run (all its threads), which other
  work on the machine moves less than the wall clock;
- macro-F1: the first timed run's predictions on the test rows, reported once.

    .venv/bin/python benchmarks/serving/bench_predict_speed.py
    .venv/bin/python benchmarks/serving/bench_predict_speed.py --models auto --backends torch,onnx --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import RESULTS, SCIENTSBANK, draw  # noqa: E402

DATA = SCIENTSBANK / "2way"
TEST = "test-unseen-answers"
#: The issue's target for the shipped model, on 2 cores.
TARGET_RESPONSES_PER_S = 50.0
#: Largest macro-F1 change an accelerated encoder may cost.
F1_TOLERANCE = 0.005


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="400")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--models",
        default="auto,ensemble:hybrid:minilm-l6+lexical@1,hybrid:minilm-l6,hybrid:mpnet-base",
        help="Comma-separated specs; spec@N trains on the draw of seed N instead of --seed.",
    )
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/synthgrade-bench-predict"))
    parser.add_argument("--retrain", action="store_true", help="Train again even when a saved model is in --work.")
    parser.add_argument("--out", type=Path, default=RESULTS / "predict_speed.json")
    return parser.parse_args()


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def trained(spec: str, seed: int, args: argparse.Namespace, full: Any, labels: list[str]) -> tuple[Path, dict]:
    """The saved model of ``spec`` for the draw of ``seed`` (trained with the encoder in PyTorch when not saved yet)."""
    from synthgrade import embed
    from synthgrade.modeling import load_scorer
    from synthgrade.train import Trainer, TrainingArguments

    train, val, _ = draw(full, args.budget, seed, labels)
    folder = args.work / f"{spec.replace(':', '_')}-{args.budget}-seed{seed}"
    if folder.exists() and not args.retrain:
        info = load_scorer(folder).info
        return folder, {"train_seconds": info.training.get("bench_train_seconds"), "loaded": True}
    embed.set_encoder_backend("torch")
    started = time.perf_counter()
    scorer = Trainer(TrainingArguments(model=spec, seed=seed, labels=labels, show_progress=False)).train(train, val)
    seconds = round(time.perf_counter() - started, 1)
    scorer.info.training["bench_train_seconds"] = seconds
    scorer.save_pretrained(folder)
    return folder, {"train_seconds": seconds, "loaded": False}


def describe(folder: Path) -> dict[str, Any]:
    from synthgrade.modeling import load_scorer

    scorer = load_scorer(folder)
    members = [m.info.base_model or m.info.kind for m in getattr(scorer, "members", [])]
    return {
        "kind": scorer.info.kind,
        "base_model": scorer.info.base_model,
        "auto_chose": (scorer.info.training.get("auto") or {}).get("chosen"),
        "members": members or None,
    }


def time_predict(folder: Path, test_csv: Path, warm_csv: Path, out: Path, repeats: int) -> dict[str, Any]:
    from synthgrade import embed
    from synthgrade.modeling import load_scorer
    from synthgrade.predict import predict_file

    started = time.perf_counter()
    predict_file(load_scorer(folder), warm_csv, out, show_progress=False)
    first_seconds = time.perf_counter() - started
    seconds: list[float] = []
    cpu_seconds: list[float] = []  # every thread of this process: less sensitive to other work than the wall clock
    load_before = load_average()
    for repeat in range(repeats):
        # As a fresh process after the warm-up: the encoder is loaded, nothing is embedded yet (the texts' memo
        # is emptied, and a newly loaded scorer has no item embeddings).
        embed._VECTORS.clear()
        scorer = load_scorer(folder)
        tick, cpu_tick = time.perf_counter(), time.process_time()
        summary = predict_file(scorer, test_csv, out if repeat else out.with_name("first-" + out.name), show_progress=False)
        seconds.append(time.perf_counter() - tick)
        cpu_seconds.append(time.process_time() - cpu_tick)
    return {
        "load_and_warm_up_seconds": round(first_seconds, 2),
        "run_seconds": [round(s, 3) for s in seconds],
        "run_cpu_seconds": [round(s, 3) for s in cpu_seconds],
        "rows_scored": summary.scored,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def macro_f1(predictions: Path, truth: Any) -> float:
    import pandas as pd
    from sklearn.metrics import f1_score

    scored = pd.read_csv(predictions, keep_default_na=False)
    assert scored["id"].astype(str).tolist() == truth["id"].astype(str).tolist(), "predict changed the row order"
    return float(f1_score(truth["label"], scored["pred_label"], average="macro"))


def main() -> int:
    args = parse()
    from transformers.utils import logging as hf_logging

    from synthgrade import embed
    from synthgrade.data import load_responses
    from synthgrade.io import cache_dir, write_json, write_text_atomic

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    args.work.mkdir(parents=True, exist_ok=True)
    full = load_responses(DATA / "train")
    labels = sorted(full["label"].unique())
    test = load_responses(DATA / "test" / TEST)
    columns = ["id", "text", "label", "item_id", "item_text", "reference"]
    test_csv = args.work / f"{TEST}.csv"
    test[columns].to_csv(test_csv, index=False)
    warm_csv = args.work / f"{TEST}-warm-up.csv"
    test[columns].head(16).to_csv(warm_csv, index=False)
    import torch

    rows: list[dict[str, Any]] = []
    for entry in [m.strip() for m in args.models.split(",") if m.strip()]:
        spec, _, seed = entry.partition("@")
        folder, training = trained(spec, int(seed or args.seed), args, full, labels)
        model = {"model": entry, "seed": int(seed or args.seed), **describe(folder), **training}
        print(f"{spec}: {model}", flush=True)
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            embed.set_encoder_backend(backend)
            embed._VECTORS.clear()
            out = args.work / f"{folder.name}-{backend}.csv"
            timing = time_predict(folder, test_csv, warm_csv, out, args.repeats)
            best = min(timing["run_seconds"])
            row = model | {
                "backend": backend,
                "responses_per_s": round(len(test) / best, 1),
                "responses_per_s_median": round(len(test) / statistics.median(timing["run_seconds"]), 1),
                "responses_per_cpu_s": round(len(test) / min(timing["run_cpu_seconds"]), 1),
                "macro_f1": round(macro_f1(out.with_name("first-" + out.name), test), 4),
                **timing,
            }
            rows.append(row)
            print(
                f"  {backend}: {row['responses_per_s']} responses/s (median {row['responses_per_s_median']}), "
                f"macro-F1 {row['macro_f1']}, load {timing['load_average_before']}",
                flush=True,
            )
    embed.set_encoder_backend(None)
    for row in rows:
        reference = next(r for r in rows if r["model"] == row["model"] and r["backend"] == "torch")
        row["macro_f1_change"] = round(row["macro_f1"] - reference["macro_f1"], 4)
        row["speedup"] = round(row["responses_per_s"] / reference["responses_per_s"], 2)
    result = {
        "data": f"SciEntsBank 2-way, budget {args.budget} (the draw of bench_scorers.py: 80 % training, 20 % validation rows)",
        "test": f"{TEST} ({len(test)} rows)",
        "target_responses_per_s": TARGET_RESPONSES_PER_S,
        "f1_tolerance": F1_TOLERANCE,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform()},
        "onnx_cache": str(cache_dir() / "onnx-encoders"),
        "command": "python benchmarks/serving/bench_predict_speed.py " + " ".join(sys.argv[1:]),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    lines = [
        "# predict speed of the model auto ships (SciEntsBank 2-way, 400 rows, seed 0)",
        "",
        f"Written by `{result['command'].strip()}`; {result['test']}, {result['machine']['cpus']} CPU cores "
        "(load average before and after each backend's runs in the last column: other work slows every figure). "
        f"Models trained with the encoder in PyTorch; the target is {TARGET_RESPONSES_PER_S:.0f} responses/s "
        f"with macro-F1 within {F1_TOLERANCE} of the PyTorch encoder.",
        "",
        "| model @ draw seed | ships | encoder | responses/s (best) | median | per CPU-second | speed-up | macro-F1 | change "
        "| load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ships = r["auto_chose"] or r["kind"]
        lines.append(
            f"| {r['model'].split('@')[0]} @ {r['seed']} | {ships} | {r['backend']} | {r['responses_per_s']} | "
            f"{r['responses_per_s_median']} | {r['responses_per_cpu_s']} | "
            f"{r['speedup']}x | {r['macro_f1']:.4f} | {r['macro_f1_change']:+.4f} | "
            f"{r['load_average_before'][0]} / {r['load_average_after'][0]} |"
        )
    write_text_atomic(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
