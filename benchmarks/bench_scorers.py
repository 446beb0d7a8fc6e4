"""Benchmark: every scorer kind at human budgets 50, 100, 400 and all rows on SciEntsBank 2-way.

For each (budget, seed): a stratified draw of ``budget`` rows from the official training split, 20 % of
it (stratified) as human validation, the rest for training. Each model is trained on that draw (nothing
else), and scored once on the three official tests (unseen answers, questions, domains). ``auto`` is the
real selection rule (:func:`synthgrade.train.auto.choose`) applied to the candidates trained in the same
cell, so it costs nothing extra here and is exactly what ``synthgrade train`` would ship from them.

Rows go to ``benchmarks/results/scorers.jsonl`` as they finish (a rerun skips finished cells); the summary
(means with 95 % t-intervals over seeds, per budget, test and model) to ``scorers.json`` and ``scorers.md``.

    .venv/bin/python benchmarks/bench_scorers.py                                  # everything (hours on 2 cores)
    .venv/bin/python benchmarks/bench_scorers.py --budgets 50,100 --seeds 0 --models tfidf,hybrid:minilm-l6
    .venv/bin/python benchmarks/bench_scorers.py --summarise-only

``responses_per_second`` is single-process batch throughput on 256 unseen-answers rows with the embedding
cache off (what a user scoring new responses gets); ``train_seconds`` includes embedding the training rows
unless an earlier model in the same process embedded them already (noted per row as ``warm_embeddings``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "semeval2013-scientsbank" / "2way"
RESULTS = ROOT / "benchmarks" / "results"
TESTS = ("test-unseen-answers", "test-unseen-questions", "test-unseen-domains")
DEFAULT_MODELS = "tfidf,hybrid:minilm-l6,hybrid:mpnet-base,minilm-l6"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--budgets", default="50,100,400,all")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", default=DEFAULT_MODELS, help="Trained per cell; auto chooses among them.")
    parser.add_argument(
        "--finetune-max-rows", type=int, default=400, help="Skip fine-tuned encoders above this budget (CPU time)."
    )
    parser.add_argument("--embedding-cache", type=Path, default=ROOT / ".cache" / "embeddings")
    parser.add_argument("--out", type=Path, default=RESULTS / "scorers.json")
    parser.add_argument("--summarise-only", action="store_true")
    return parser.parse_args()


def load_cache(folder: Path) -> None:
    import numpy as np

    from synthgrade.embed import remember

    for path in sorted(folder.glob("*.npz")) if folder.exists() else []:
        with np.load(path, allow_pickle=False) as data:
            remember(str(data["model"]), int(data["max_length"]), [str(t) for t in data["texts"]], data["vectors"])


def save_cache(folder: Path) -> None:
    import numpy as np

    from synthgrade.embed import _VECTORS

    folder.mkdir(parents=True, exist_ok=True)
    for (model, max_length), vectors in _VECTORS.items():
        texts = sorted(vectors)
        name = model.replace("/", "_").replace(":", "_")
        tmp = folder / f".{name}-{max_length}.tmp.npz"
        np.savez(
            tmp, model=model, max_length=max_length, texts=np.array(texts), vectors=np.stack([vectors[t] for t in texts])
        )
        tmp.replace(folder / f"{name}-{max_length}.npz")


def throughput(scorer: Any, sample: Any) -> float:
    from synthgrade.evaluate.speed import measure_speed

    return float(measure_speed(scorer, sample, single=0)["responses_per_s"])


def macro_f1(scorer: Any, frame: Any) -> tuple[float, Any]:
    from sklearn.metrics import f1_score

    proba = scorer.predict_proba(frame)
    predicted = [scorer.labels[i] for i in proba.argmax(axis=1)]
    return float(f1_score(frame["label"], predicted, average="macro")), proba


def summarise(rows: list[dict], out: Path) -> None:
    import pandas as pd

    from synthgrade.io import write_json
    from synthgrade.report.stats import t_interval

    frame = pd.DataFrame(rows)
    summary = []
    for (budget, test, model), group in frame.groupby(["budget", "test", "model"], sort=False):
        mean, low, high = t_interval(group["macro_f1"].tolist())
        summary.append(
            {
                "budget": budget,
                "test": test,
                "model": model,
                "seeds": int(group["seed"].nunique()),
                "macro_f1": round(mean, 4),
                "ci_low": None if low != low else round(low, 4),
                "ci_high": None if high != high else round(high, 4),
                "train_seconds": round(float(group["train_seconds"].mean()), 1),
                "responses_per_second": round(float(group["responses_per_second"].mean()), 1),
            }
        )
    order = {b: i for i, b in enumerate(["50", "100", "400", "all"])}
    summary.sort(key=lambda r: (order.get(str(r["budget"]), 9), TESTS.index(r["test"]), r["model"]))
    auto_vs_tfidf = []
    table = pd.DataFrame(summary)
    for (budget, test), group in table.groupby(["budget", "test"], sort=False):
        scores = dict(zip(group["model"], group["macro_f1"], strict=True))
        if "auto" in scores and "tfidf" in scores:
            auto_vs_tfidf.append({"budget": budget, "test": test, "auto_minus_tfidf": round(scores["auto"] - scores["tfidf"], 4)})
    write_json(out, {"rows": rows, "summary": summary, "auto_vs_tfidf": auto_vs_tfidf})
    lines = [
        "# Scorers on SciEntsBank 2-way (macro-F1, mean over seeds [95% t-interval])",
        "",
        "Written by `benchmarks/bench_scorers.py`; per-row data in `scorers.json`.",
        "",
        "| budget | test | model | seeds | macro-F1 | 95% CI | train s | responses/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        ci = f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if r["ci_low"] is not None else "-"
        lines.append(
            f"| {r['budget']} | {r['test'].replace('test-', '')} | {r['model']} | {r['seeds']} | {r['macro_f1']:.3f} | {ci} | "
            f"{r['train_seconds']:.0f} | {r['responses_per_second']:.0f} |"
        )
    lines += ["", "auto minus tfidf (mean macro-F1):", "", "| budget | test | difference |", "|---|---|---|"]
    lines += [f"| {r['budget']} | {r['test'].replace('test-', '')} | {r['auto_minus_tfidf']:+.3f} |" for r in auto_vs_tfidf]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    args = parse()
    sys.path.insert(0, str(ROOT / "src"))
    import numpy as np
    from transformers.utils import logging as hf_logging

    from synthgrade.data import load_responses
    from synthgrade.mix import stratified_sample
    from synthgrade.train import Trainer, TrainingArguments
    from synthgrade.train.auto import Candidate, choose
    from synthgrade.train.data import label_indices

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    log = args.out.with_suffix(".jsonl")
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    if args.summarise_only:
        summarise(rows, args.out)
        return 0
    if not args.data.exists():
        print(f"SciEntsBank not found at {args.data}", file=sys.stderr)
        return 2
    done = {(str(r["budget"]), r["seed"], r["model"]) for r in rows}
    full = load_responses(args.data / "train")
    tests = {name: load_responses(args.data / "test" / name) for name in TESTS}
    labels = sorted(full["label"].unique())
    load_cache(args.embedding_cache)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for budget in args.budgets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            if all((budget, seed, m) in done for m in [*models, "auto"]):
                continue
            rng = np.random.default_rng(seed)
            drawn = full if budget == "all" else stratified_sample(full, int(budget), rng, labels)
            val = stratified_sample(drawn, max(len(labels), round(0.2 * len(drawn))), rng, labels)
            train = drawn.drop(index=val.index)
            y_val = label_indices(val, labels)
            candidates: list[Candidate] = []
            for model in models:
                finetune = not model.startswith(("tfidf", "hybrid"))
                if finetune and len(drawn) > args.finetune_max_rows:
                    continue
                warm = model.startswith("hybrid") and any(m.startswith("hybrid") for m in models[: models.index(model)])
                tick = time.perf_counter()
                training = TrainingArguments(model=model, show_progress=False, seed=seed, labels=labels)
                scorer = Trainer(training).train(train, val)
                seconds = time.perf_counter() - tick
                candidate = Candidate(model, scorer, scorer.predict_proba(val), scorer.info.training.get("cv_macro_f1"), seconds)
                candidates.append(candidate)
                if (budget, seed, model) in done:
                    continue
                speed = throughput(scorer, tests[TESTS[0]].iloc[:256])
                new = []
                for name, frame in tests.items():
                    f1, _ = macro_f1(scorer, frame)
                    new.append(
                        {
                            "budget": budget, "seed": seed, "test": name, "model": model, "macro_f1": round(f1, 4),
                            "train_seconds": round(seconds, 1), "responses_per_second": round(speed, 1),
                            "train_rows": len(train), "val_rows": len(val), "warm_embeddings": warm,
                            "val_macro_f1": scorer.info.training.get("validation", {}).get("macro_f1"),
                        }
                    )  # fmt: skip
                    print(json.dumps(new[-1]), flush=True)
                with log.open("a") as handle:
                    handle.writelines(json.dumps(r) + "\n" for r in new)
                rows += new
                save_cache(args.embedding_cache)
            if (budget, seed, "auto") in done or not candidates:
                continue
            winner, record = choose(candidates, y_val, labels, len(train), seed)
            chosen = candidates[winner]
            new = []
            for r in rows:
                if str(r["budget"]) == budget and r["seed"] == seed and r["model"] == chosen.spec:
                    new.append(
                        r | {"model": "auto", "chosen": chosen.spec, "reason": record["reason"],
                             "candidates": [c.spec for c in candidates],
                             "train_seconds": round(sum(c.seconds for c in candidates), 1)}
                    )  # fmt: skip
            for r in new:
                print(json.dumps(r), flush=True)
            with log.open("a") as handle:
                handle.writelines(json.dumps(r) + "\n" for r in new)
            rows += new
            summarise(rows, args.out)
    summarise(rows, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
