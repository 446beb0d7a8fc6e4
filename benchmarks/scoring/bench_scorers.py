"""Benchmark: every scorer kind at human budgets 50, 100, 400 and all rows on SciEntsBank or Beetle, 2- or 3-way.

For each (budget, seed): a stratified draw of ``budget`` rows from the official training split, 20 % of
it (stratified) as human validation, the rest for training. Each model is trained on that draw (nothing
else), and scored once on the official tests (SciEntsBank: unseen answers, questions, domains; Beetle:
unseen answers, questions). ``auto`` is the real selection rule (:func:`synthgrade.train.auto.choose`,
with the ensemble candidate of :func:`~synthgrade.train.auto.ensemble_candidate` when ``auto.ENSEMBLE``)
applied to the candidates trained in the same cell, so it costs nothing extra here and is exactly what
``synthgrade train`` would ship from them. ``lexical`` is recorded as ``strong-lexical`` (the textbook
recipe a user would write instead). Each variant of the rule is recorded (:data:`VARIANTS`: decision rule
``tie`` or ``pooled``; all candidates, no ensemble, or neither lexical nor ensemble); the summary's ``auto``
rows are those of the variant the library runs now (:func:`library_variant`).

With ``--probe-rows N`` (default 800) every candidate and every variant of the rule is also scored on the rows of
one fixed sample of N rows of the official training split that lie outside the draw (never a test row), written to
``results/probes/auto-candidates.jsonl``: the figures that decide which candidates ``auto`` keeps.

Rows go to ``benchmarks/results/scorers.jsonl`` as they finish (a rerun skips finished cells); the summary
(means with 95 % t-intervals over seeds, per budget, test and model) to ``scorers.json`` and ``scorers.md``.

    .venv/bin/python benchmarks/scoring/bench_scorers.py                                  # everything (hours on 2 cores)
    .venv/bin/python benchmarks/scoring/bench_scorers.py --dataset beetle --labels 3way --budgets 50,100,400
    .venv/bin/python benchmarks/scoring/bench_scorers.py --budgets 50,100 --seeds 0 --models tfidf,hybrid:minilm-l6
    .venv/bin/python benchmarks/scoring/bench_scorers.py --summarise-only

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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import DATASETS, EMBEDDINGS, RESULTS, draw, load_cache, macro_f1, save_cache  # noqa: E402

TESTS = ("test-unseen-answers", "test-unseen-questions", "test-unseen-domains")
DEFAULT_MODELS = "tfidf,lexical,hybrid:minilm-l6,hybrid:mpnet-base,minilm-l6"
#: How a spec's rows are named: the lexical kind is the strong baseline every other model is measured against.
ROW_NAMES = {"lexical": "strong-lexical"}
#: Candidate sets of the selection rule, on the same cell: name -> specs (prefixes) left out.
POOLS = {"": (), ", no ensemble": ("ensemble",), ", no lexical": ("ensemble", "lexical")}
#: Every (decision rule, candidate set) of auto, by row name: ``auto[tie]``, ``auto[pooled, no lexical]``, ...
VARIANTS = {f"auto[{rule}{pool}]": (rule, left_out) for rule in ("tie", "pooled") for pool, left_out in POOLS.items()}


def library_variant() -> str:
    """The variant that ``synthgrade train --model auto`` runs now (its rule, ensemble and default candidates):
    its rows are also the ``auto`` rows of the summary."""
    from synthgrade.train import auto

    pool = ", no lexical" if "lexical" not in auto.DEFAULT_CANDIDATES else "" if auto.ENSEMBLE else ", no ensemble"
    return f"auto[{auto.RULE}{pool}]"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="scientsbank", choices=["scientsbank", "beetle"])
    parser.add_argument("--labels", default="2way", choices=["2way", "3way"])
    parser.add_argument("--data", type=Path, default=None, help="Overrides the folder that --dataset/--labels name.")
    parser.add_argument("--probe-rows", type=int, default=800, help="Training-split rows outside the draw (0 = none).")
    parser.add_argument("--budgets", default="50,100,400,all")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", default=DEFAULT_MODELS, help="Trained per cell; auto chooses among them.")
    parser.add_argument(
        "--finetune-max-rows", type=int, default=400, help="Skip fine-tuned encoders above this budget (CPU time)."
    )
    parser.add_argument("--embedding-cache", type=Path, default=EMBEDDINGS)
    parser.add_argument("--out", type=Path, default=RESULTS / "scorers.json")
    parser.add_argument("--summarise-only", action="store_true")
    parser.add_argument(
        "--students",
        default=None,
        help="Comma-separated student specs (static, minilm-l6, layers:3, or 'fast': static for a hybrid winner, "
        "minilm-l6 for a fine-tuned mpnet winner) distilled from each cell's auto winner, after the cells ran; "
        "unlabeled transfer rows = the training split's responses outside the draw.",
    )
    return parser.parse_args()


def throughput(scorer: Any, sample: Any) -> float:
    from synthgrade.speed import measure_speed

    return float(measure_speed(scorer, sample, single=0)["responses_per_s"])


KEY = ("dataset", "labels", "budget", "seed", "test", "model")


def normalised(rows: list[dict]) -> list[dict]:
    """Rows written before Beetle and 3-way labels were SciEntsBank 2-way; a later row replaces an earlier one."""
    latest: dict[tuple, dict] = {}
    for row in rows:
        row = {"dataset": "scientsbank", "labels": "2way"} | row | {"budget": str(row["budget"])}
        latest[tuple(row[k] for k in KEY)] = row
    return list(latest.values())


def summarise(rows: list[dict], out: Path) -> None:
    import pandas as pd

    from synthgrade.io import write_json
    from synthgrade.metrics import t_interval

    rows = normalised(rows)
    # ``auto`` = what the library runs now; cells run before the variants were recorded keep their auto rows.
    variant = library_variant()
    derived = [r | {"model": "auto", "variant": variant} for r in rows if r["model"] == variant]
    rows = normalised(rows + derived)
    frame = pd.DataFrame(rows)
    summary = []
    for (dataset, labels, budget, test, model), group in frame.groupby(
        ["dataset", "labels", "budget", "test", "model"], sort=False
    ):
        mean, low, high = t_interval(group["macro_f1"].tolist())
        summary.append(
            {
                "dataset": dataset,
                "labels": labels,
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
            | (
                {
                    "share_of_teacher": round(float(group["share_of_teacher"].mean()), 4),
                    "speedup": round(float(group["speedup"].mean()), 2),
                }
                if "share_of_teacher" in group and group["share_of_teacher"].notna().all()
                else {}
            )
        )
    order = {b: i for i, b in enumerate(["50", "100", "400", "all"])}
    summary.sort(
        key=lambda r: (
            r["dataset"] != "scientsbank",
            r["labels"],
            order.get(str(r["budget"]), 9),
            TESTS.index(r["test"]),
            r["model"],
        )
    )
    differences = []
    table = pd.DataFrame(summary)
    for (dataset, labels, budget, test), group in table.groupby(["dataset", "labels", "budget", "test"], sort=False):
        scores = dict(zip(group["model"], group["macro_f1"], strict=True))
        seeds = dict(zip(group["model"], group["seeds"], strict=True))
        if "auto" not in scores:
            continue
        row = {
            "dataset": dataset,
            "labels": labels,
            "budget": budget,
            "test": test,
            "auto": scores["auto"],
            "seeds": seeds["auto"],
        }
        for name, baseline in (("strong_lexical", "strong-lexical"), ("tfidf", "tfidf")):
            if baseline in scores:
                row[f"auto_minus_{name}"] = round(scores["auto"] - scores[baseline], 4)
        differences.append(row)
    write_json(
        out,
        {
            "rows": rows,
            "summary": summary,
            "auto_vs_strong_lexical": [r for r in differences if "auto_minus_strong_lexical" in r],
            "auto_vs_tfidf": [r for r in differences if "auto_minus_tfidf" in r],
        },
    )
    lines = [
        "# Scorers on SciEntsBank and Beetle (macro-F1, mean over seeds [95% t-interval])",
        "",
        "Written by `benchmarks/scoring/bench_scorers.py`; per-row data in `scorers.json`. `strong-lexical` is the textbook",
        "lexical recipe (the `lexical` kind); `auto` the selection rule over the cell's candidates.",
    ]
    for (dataset, labels), part in pd.DataFrame(summary).groupby(["dataset", "labels"], sort=False):
        lines += [
            "", f"## {dataset} {labels}", "",
            "| budget | test | model | seeds | macro-F1 | 95% CI | train s | responses/s |", "|---|---|---|---|---|---|---|---|",
        ]  # fmt: skip
        for r in part.to_dict("records"):
            ci = f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if pd.notna(r["ci_low"]) else "-"
            test = r["test"].replace("test-", "")
            lines.append(
                f"| {r['budget']} | {test} | {r['model']} | {r['seeds']} | {r['macro_f1']:.3f} | {ci} | "
                f"{r['train_seconds']:.0f} | {r['responses_per_second']:.0f} |"
            )
    students = [r for r in summary if "share_of_teacher" in r]
    if students:
        lines += ["", "Students of each cell's auto winner (share of its macro-F1, speed-up over it):", ""]
        lines += ["| data | budget | test | student | macro-F1 | share of teacher | speed-up |", "|---|---|---|---|---|---|---|"]
        lines += [
            f"| {r['dataset']} {r['labels']} | {r['budget']} | {r['test'].replace('test-', '')} | {r['model']} | "
            f"{r['macro_f1']:.3f} | {r['share_of_teacher']:.1%} | {r['speedup']:.1f}x |"
            for r in students
        ]
    lines += [
        "", "auto minus the strong lexical recipe and minus tfidf (mean macro-F1):", "",
        "| data | budget | test | seeds | auto | auto - strong-lexical | auto - tfidf |", "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in differences:
        lexical = f"{r['auto_minus_strong_lexical']:+.3f}" if "auto_minus_strong_lexical" in r else "-"
        tfidf = f"{r['auto_minus_tfidf']:+.3f}" if "auto_minus_tfidf" in r else "-"
        data, test = f"{r['dataset']} {r['labels']}", r["test"].replace("test-", "")
        lines.append(f"| {data} | {r['budget']} | {test} | {r['seeds']} | {r['auto']:.3f} | {lexical} | {tfidf} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_log(log: Path) -> list[dict]:
    """Every row in the log, read afresh: another run of this script may have appended rows since this one began,
    and the summary must not drop them."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []


def record(new: list[dict], log: Path) -> list[dict]:
    """Print finished rows and append them to the jsonl log at once, so a killed run loses no finished cell."""
    for row in new:
        print(json.dumps(row), flush=True)
    with log.open("a") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in new)
    return new


def run_students(args: argparse.Namespace, rows: list[dict], full: Any, tests: dict, labels: list[str], log: Path) -> list[dict]:
    """Distil each cell's auto winner into every ``--students`` spec; rows carry the teacher's score for the ratio."""
    from synthgrade.distill import DistillationArguments, DistillationTrainer
    from synthgrade.train import Trainer, TrainingArguments

    rows = [r for r in normalised(rows) if (r["dataset"], r["labels"]) == (args.dataset, args.labels)]
    done = {(str(r["budget"]), r["seed"], r["model"]) for r in rows}
    new: list[dict] = []
    winners = {(str(r["budget"]), r["seed"]): r["chosen"] for r in rows if r["model"] == "auto"}
    for budget in args.budgets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            chosen = winners.get((budget, seed))
            # A hybrid's static student is 20-100x faster; a hybrid:minilm-l6 student of hybrid:mpnet-base only 7-8x.
            fast = "minilm-l6" if chosen and "mpnet" in chosen and not chosen.startswith("hybrid") else "static"
            specs = [f"student:{fast if s.strip() == 'fast' else s.strip()}" for s in args.students.split(",") if s.strip()]
            if chosen is None or all((budget, seed, spec) in done for spec in specs):
                continue
            train, val, rest = draw(full, budget, seed, labels)
            teacher = Trainer(TrainingArguments(model=chosen, show_progress=False, seed=seed, labels=labels)).train(train, val)
            teacher_speed = throughput(teacher, tests[TESTS[0]].iloc[:256])
            for spec in specs:
                if (budget, seed, spec) in done:
                    continue
                tick = time.perf_counter()
                distil = DistillationArguments(student=spec.split(":", 1)[1], show_progress=False, seed=seed, speed_rows=0)
                unlabeled = rest.drop(columns=["label"]) if len(rest) else None
                student = DistillationTrainer(teacher, distil).train(train, val, unlabeled)
                seconds = time.perf_counter() - tick
                speed = throughput(student, tests[TESTS[0]].iloc[:256])
                cell = []
                for name, frame in tests.items():
                    f1, _ = macro_f1(student, frame)
                    teacher_f1 = next(
                        r["macro_f1"] for r in rows if str(r["budget"]) == budget and r["seed"] == seed
                        and r["model"] == "auto" and r["test"] == name
                    )  # fmt: skip
                    cell.append(
                        {
                            "dataset": args.dataset, "labels": args.labels,
                            "budget": budget, "seed": seed, "test": name, "model": spec, "teacher": chosen,
                            "macro_f1": round(f1, 4), "teacher_macro_f1": teacher_f1,
                            "share_of_teacher": round(f1 / teacher_f1, 4) if teacher_f1 else None,
                            "train_seconds": round(seconds, 1), "responses_per_second": round(speed, 1),
                            "teacher_responses_per_second": round(teacher_speed, 1),
                            "speedup": round(speed / teacher_speed, 2) if teacher_speed else None,
                            "train_rows": len(train), "val_rows": len(val), "unlabeled_rows": len(rest),
                            "val_macro_f1": student.info.training.get("validation", {}).get("macro_f1"),
                        }
                    )  # fmt: skip
                new += record(cell, log)
                save_cache(args.embedding_cache)
    return new


def row_name(spec: str) -> str:
    return ROW_NAMES.get(spec, "ensemble" if spec.startswith("ensemble:") else spec)


def variant_choices(candidates: list, y_val: Any, labels: list[str], train_rows: int, seed: int) -> dict[str, tuple[Any, dict]]:
    """Each :data:`VARIANTS` rule: (the chosen candidate, the record of the choice)."""
    from synthgrade.train.auto import choose

    out = {}
    for name, (rule, left_out) in VARIANTS.items():
        pool = [c for c in candidates if not (left_out and c.spec.startswith(left_out))]
        if pool:
            winner, record = choose(pool, y_val, labels, train_rows, seed, rule=rule)
            out[name] = (pool[winner], record)
    return out


def probe(candidates: list, choices: dict, held_out: Any, cell: dict, y_val: Any, labels: list[str]) -> dict:
    """Macro-F1 of every candidate and rule on training-split rows outside the draw (the decision figures)."""
    from synthgrade.metrics import point_metrics

    heldout = {c.spec: macro_f1(c.scorer, held_out)[0] for c in candidates}
    return cell | {
        "heldout_rows": len(held_out),
        "val_rows": len(y_val),
        "candidates": {
            c.spec: {
                "heldout_macro_f1": round(heldout[c.spec], 4),
                "val_macro_f1": round(float(point_metrics(y_val, c.val_proba, labels)["macro_f1"] or 0.0), 4),
                "cv_macro_f1": None if c.cv_macro_f1 is None else round(float(c.cv_macro_f1), 4),
            }
            | ({"weight": c.extra["weight"]} if "weight" in c.extra else {})
            for c in candidates
        },
        "rules": {
            name: {"chosen": chosen.spec, "heldout_macro_f1": round(heldout[chosen.spec], 4)}
            for name, (chosen, _) in choices.items()
        },
    }


def main() -> int:
    args = parse()
    from transformers.utils import logging as hf_logging

    from synthgrade.data import label_indices, load_responses
    from synthgrade.train import Trainer, TrainingArguments
    from synthgrade.train import auto as auto_rule
    from synthgrade.train.auto import Candidate

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    log = args.out.with_suffix(".jsonl")
    rows = read_log(log)
    if args.summarise_only:
        summarise(rows, args.out)
        return 0
    data = args.data or DATASETS / f"semeval2013-{args.dataset}" / args.labels
    if not data.exists():
        print(f"{args.dataset} {args.labels} not found at {data}", file=sys.stderr)
        return 2
    dataset = {"dataset": args.dataset, "labels": args.labels}
    probe_log = args.out.parent / "probes" / "auto-candidates.jsonl"
    probed = set()
    if probe_log.exists():
        probed = {
            (r["dataset"], r["labels"], r["budget"], r["seed"]) for r in map(json.loads, probe_log.read_text().splitlines())
        }
    done = {
        (r["budget"], r["seed"], r["model"]) for r in normalised(rows) if (r["dataset"], r["labels"]) == tuple(dataset.values())
    }
    full = load_responses(data / "train")
    tests = {name: load_responses(data / "test" / name) for name in TESTS if (data / "test" / name).exists()}
    labels = sorted(full["label"].unique())
    load_cache(args.embedding_cache)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.students:
        rows += run_students(args, rows, full, tests, labels, log)
        summarise(read_log(log), args.out)
        return 0
    rules = list(VARIANTS)
    speeds: dict[str, float] = {}
    # One sample for every cell, so its rows are embedded once; each cell scores those outside its draw.
    probe_pool = full.sample(n=min(args.probe_rows, len(full)), random_state=1000) if args.probe_rows else full.iloc[:0]
    for budget in args.budgets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            wanted = [*(row_name(m) for m in models), *rules]
            if all((budget, seed, m) in done for m in wanted) and (
                args.probe_rows == 0 or (*dataset.values(), budget, seed) in probed
            ):
                continue
            train, val, rest = draw(full, budget, seed, labels)
            y_val = label_indices(val, labels)
            cell = dataset | {"budget": budget, "seed": seed}
            candidates: list[Candidate] = []
            for model in models:
                finetune = not model.startswith(("tfidf", "hybrid", "lexical"))
                if finetune and len(train) + len(val) > args.finetune_max_rows:
                    continue
                warm = model.startswith("hybrid") and any(m.startswith("hybrid") for m in models[: models.index(model)])
                tick = time.perf_counter()
                training = TrainingArguments(model=model, show_progress=False, seed=seed, labels=labels)
                scorer = Trainer(training).train(train, val)
                seconds = time.perf_counter() - tick
                candidates.append(
                    Candidate(model, scorer, scorer.predict_proba(val), scorer.info.training.get("cv_macro_f1"), seconds)
                )
                candidates[-1].extra["warm"] = warm
            combined = auto_rule.ensemble_candidate(candidates, train, y_val, labels)  # the variants say if it helps
            if combined is not None:
                candidates.append(combined)
            new = []
            for candidate in candidates:
                if candidate.spec not in speeds:  # once per model and process: timing costs as much as a cell on 2 cores
                    speeds[candidate.spec] = throughput(candidate.scorer, tests[TESTS[0]].iloc[:256])
                for name, frame in tests.items():
                    f1, _ = macro_f1(candidate.scorer, frame)
                    new.append(
                        cell | {
                            "test": name, "model": row_name(candidate.spec), "spec": candidate.spec, "macro_f1": round(f1, 4),
                            "train_seconds": round(candidate.seconds, 1),
                            "responses_per_second": round(speeds[candidate.spec], 1),
                            "train_rows": len(train), "val_rows": len(val), "warm_embeddings": candidate.extra.get("warm", False),
                            "val_macro_f1": candidate.scorer.info.training.get("validation", {}).get("macro_f1"),
                        } | ({"weight": candidate.extra["weight"]} if "weight" in candidate.extra else {})
                    )  # fmt: skip
            choices = variant_choices(candidates, y_val, labels, len(train), seed)
            by_spec = {}
            for r in new:
                by_spec.setdefault(r["spec"], []).append(r)
            for name, (chosen, record_) in choices.items():
                left_out = VARIANTS[name][1]
                pool = [c for c in candidates if not (left_out and c.spec.startswith(left_out))]
                seconds = sum(c.seconds for c in pool if not c.spec.startswith("ensemble"))  # members trained once
                new += [
                    r | {"model": name, "chosen": chosen.spec, "reason": record_["reason"],
                         "candidates": [c.spec for c in pool], "train_seconds": round(seconds, 1)}
                    for r in by_spec[chosen.spec]
                ]  # fmt: skip
            rows += record(new, log)
            save_cache(args.embedding_cache)
            if args.probe_rows and len(rest):
                held_out = probe_pool[probe_pool.index.isin(rest.index)]
                probe_log.parent.mkdir(parents=True, exist_ok=True)
                with probe_log.open("a") as handle:
                    handle.write(json.dumps(probe(candidates, choices, held_out, cell, y_val, labels)) + "\n")
            save_cache(args.embedding_cache)
            summarise(read_log(log), args.out)
    summarise(read_log(log), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
