"""Benchmark: teacher quality and speed vs distilled students (and the TF-IDF baseline) on SciEntsBank.

Trains MiniLM-L6 on a stated budget of the SciEntsBank 2-way training split (human rows only), selects
on a held-out part of that split, distils into ``layers:3`` and ``static`` students, then evaluates every
model on the official test-unseen-answers set (bootstrap 95% CIs) and times CPU inference in PyTorch and,
when the export stage is present, ONNX Runtime. Writes ``benchmarks/results/train.json``.

Target to report against: a student within 2% of the teacher's macro-F1 at >= 5x its CPU throughput.

    .venv/bin/python benchmarks/training/bench_train.py                      # ~15 min on 2 idle cores
    .venv/bin/python benchmarks/training/bench_train.py --train-rows 200 --epochs 1   # quick look
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import DATA, RESULTS  # noqa: E402


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="SciEntsBank 2way folder (train/ and test/).")
    parser.add_argument("--train-rows", type=int, default=800, help="Human training budget (rows of the training split).")
    parser.add_argument("--val-rows", type=int, default=200, help="Human validation rows (also from the training split).")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--student-epochs", type=int, default=2)
    parser.add_argument("--static-epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-onnx", action="store_true", help="Skip ONNX Runtime timings.")
    parser.add_argument("--out", type=Path, default=RESULTS / "train.json")
    parser.add_argument("--keep-models", type=Path, default=None, help="Also save the models to this folder.")
    return parser.parse_args()


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in ("accuracy", "macro_f1", "kappa", "qwk", "auc")} | {"n": metrics["n"]}


def measure_onnx_speed(scorer: Any, frame: Any, **options: Any) -> dict[str, Any] | None:
    """Export ``scorer`` to ONNX and time the ``OnnxScorer``; None when the export extra is not installed."""
    try:
        from synthgrade.export import OnnxScorer, export_onnx
    except ImportError:
        return None
    from synthgrade.speed import measure_speed

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "onnx"
        summary = export_onnx(scorer, target)
        result = measure_speed(OnnxScorer.from_pretrained(target), frame, **options)
    return result | {"parity": summary.get("parity"), "onnx_bytes": summary.get("onnx_bytes"), "int8": False}


def main() -> int:
    args = parse()
    import numpy as np
    import torch
    from transformers.utils import logging as hf_logging

    from synthgrade.console import console
    from synthgrade.data import load_responses
    from synthgrade.distill import DistillationArguments, DistillationTrainer
    from synthgrade.evaluate import evaluate_scorer
    from synthgrade.io import write_json
    from synthgrade.mix import stratified_sample
    from synthgrade.scorers.tfidf import TfidfScorer
    from synthgrade.speed import measure_speed
    from synthgrade.train import Trainer, TrainingArguments

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if not DATA.exists() and args.data == DATA:
        print(f"SciEntsBank not found at {DATA}", file=sys.stderr)
        return 2
    full = load_responses(args.data / "train")
    test = load_responses(args.data / "test" / "test-unseen-answers")
    rng = np.random.default_rng(args.seed)
    labels = sorted(full["label"].unique())
    val = stratified_sample(full, args.val_rows, rng, labels)
    rest = full.drop(index=val.index)
    train = stratified_sample(rest, args.train_rows, rng, labels)
    assert not set(train["id"]) & set(val["id"]) and not set(train["id"]) & set(test["id"])
    console.print(f"train {len(train)} / val {len(val)} human rows from the training split; test-unseen-answers {len(test)} rows")

    results: dict[str, Any] = {
        "benchmark": "bench_train",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "setup": {
            "data": "SciEntsBank 2-way (SemEval-2013 Task 7)",
            "train_rows": len(train),
            "val_rows": len(val),
            "test": "test-unseen-answers",
            "test_rows": len(test),
            "teacher": "minilm-l6",
            "input": "pair (question + reference answer, response)",
            "epochs": args.epochs,
            "student_epochs": args.student_epochs,
            "static_epochs": args.static_epochs,
            "lr": args.lr,
            "max_length": args.max_length,
            "batch_size": args.batch_size,
            "bootstrap": args.bootstrap,
            "seed": args.seed,
        },
        "machine": {
            "cpu_count": __import__("os").cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "note": "CPU shared with other processes while measured: timings are approximate",
        },
        "models": {},
    }
    models: dict[str, Any] = {}

    def record(name: str, scorer: Any, train_seconds: float, extra: dict[str, Any] | None = None) -> None:
        console.print(f"[bold]{name}[/bold]: evaluating on {len(test)} test rows")
        started = time.perf_counter()
        metrics = evaluate_scorer(scorer, test, bootstrap=args.bootstrap, seed=args.seed)
        eval_seconds = time.perf_counter() - started
        speed = measure_speed(scorer, test, batch_size=64, single=50, max_rows=512)
        entry: dict[str, Any] = {
            "kind": scorer.info.kind,
            "parameters": scorer.info.parameters,
            "train_seconds": round(train_seconds, 1),
            "test_eval_seconds": round(eval_seconds, 1),
            "validation": scorer.info.training.get("validation"),
            "test": headline(metrics),
            "speed_pytorch": speed,
        }
        if not args.no_onnx and hasattr(scorer, "model"):
            try:
                onnx_speed = measure_onnx_speed(scorer, test, batch_size=64, single=50, max_rows=512)
                if onnx_speed is not None:
                    entry["speed_onnx"] = onnx_speed
            except Exception as exc:  # the benchmark reports an export failure instead of dying
                entry["speed_onnx"] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        entry |= extra or {}
        results["models"][name] = entry
        models[name] = scorer
        console.print(
            f"  macro-F1 {metrics['macro_f1']['value']:.4f} "
            f"[{metrics['macro_f1']['ci_low']:.4f}, {metrics['macro_f1']['ci_high']:.4f}], "
            f"{speed['responses_per_s']} responses/s, p50 {speed['latency_ms']['p50']} ms"
            + (f", ONNX {entry['speed_onnx'].get('responses_per_s')} responses/s" if "speed_onnx" in entry else ""),
            highlight=False,
        )
        if args.keep_models:
            scorer.save_pretrained(args.keep_models / name)
        write_json(args.out, results)  # partial results survive an interrupted run

    base = {"max_length": args.max_length, "batch_size": args.batch_size, "seed": args.seed, "labels": labels}
    started = time.perf_counter()
    tfidf = Trainer(TrainingArguments(model="tfidf", **base)).train(train, val)
    assert isinstance(tfidf, TfidfScorer)
    record("tfidf", tfidf, time.perf_counter() - started)

    started = time.perf_counter()
    teacher = Trainer(TrainingArguments(model="minilm-l6", epochs=args.epochs, lr=args.lr, patience=2, **base)).train(train, val)
    record("teacher", teacher, time.perf_counter() - started)

    for spec, epochs in (("layers:3", args.student_epochs), ("static", args.static_epochs)):
        started = time.perf_counter()
        student_args = DistillationArguments(student=spec, epochs=epochs, patience=3, **base)
        student = DistillationTrainer(teacher, student_args).train(train, val)
        summary = student.info.training["distillation"]
        record(
            spec,
            student,
            time.perf_counter() - started,
            {"agreement_val": summary["agreement_val"], "tau": summary["tau"], "alpha": summary["alpha"]},
        )

    teacher_entry = results["models"]["teacher"]
    teacher_f1 = teacher_entry["test"]["macro_f1"]["value"]
    teacher_rps = teacher_entry["speed_pytorch"]["responses_per_s"]
    test_labels = test["label"].to_numpy()
    teacher_pred = models["teacher"].predict(test)
    comparison = {}
    for name in ("layers:3", "static", "tfidf"):
        entry = results["models"][name]
        f1 = entry["test"]["macro_f1"]["value"]
        rps = entry["speed_pytorch"]["responses_per_s"]
        speedup = rps / teacher_rps if teacher_rps else None
        comparison[name] = {
            "macro_f1_diff_points": round(f1 - teacher_f1, 4),
            "macro_f1_relative": round(f1 / teacher_f1, 4) if teacher_f1 else None,
            "throughput_speedup_pytorch": round(speedup, 2) if speedup else None,
            "test_agreement_with_teacher": float((models[name].predict(test) == teacher_pred).mean()),
        }
        if name == "tfidf":
            comparison[name]["note"] = "baseline trained on the same rows, not a distilled student"
        else:
            comparison[name]["meets_target"] = bool(teacher_f1 and f1 >= 0.98 * teacher_f1 and speedup and speedup >= 5)
        if (
            "speed_onnx" in entry
            and entry["speed_onnx"].get("responses_per_s")
            and teacher_entry.get("speed_onnx", {}).get("responses_per_s")
        ):
            comparison[name]["throughput_speedup_onnx_vs_teacher_onnx"] = round(
                entry["speed_onnx"]["responses_per_s"] / teacher_entry["speed_onnx"]["responses_per_s"], 2
            )
    results["comparison_to_teacher"] = comparison
    results["target"] = "student macro-F1 >= 98% of the teacher's at >= 5x the teacher's PyTorch CPU throughput"
    results["teacher_test_accuracy_check"] = float((teacher_pred == test_labels).mean())
    write_json(args.out, results)
    console.print(f"wrote {args.out}")
    for name, entry in comparison.items():
        console.print(f"{name}: {entry}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
