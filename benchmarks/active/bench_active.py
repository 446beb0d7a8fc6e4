"""Benchmark: code fewer responses. A simulated coder on SciEntsBank 2-way (or Beetle) codes what ``select`` proposes.

Curves: for each strategy and seed, start with nothing coded; at every step (20, 50, 100, 120, 150, 200, 300, 400
coded rows) ``select_rows`` proposes the next rows from the pool (its labels are revealed only once a row is
chosen), the cheap scorer (``hybrid:minilm-l6``, the cheapest candidate ``auto`` trains at these sizes) is refitted
on all coded rows, scores the validation rows and the official tests, and proposes the next batch.

Validation (the default strategy is chosen on it, never on the tests): rows carved from the official training
split with a fixed seed, before any draw: every row of a fifth of the items ("validation-questions", as for
unseen questions) and 10 % of the rows of the other items ("validation-answers"). The pool is the rest of the
training split. The default is the strategy with the largest gain in mean validation area under the curve over
random (on the seeds both ran) among those whose area on neither validation part is more than 0.01 below random's;
over both data sets, the largest of the smaller of the two gains among the strategies eligible on both.

Audit: 400 rows (``--audit-rows``; 0 = the whole training split) drawn from the training split, 5 % or 10 % of
their labels flipped; precision at k (k = the number of flips) of ``find_suspects`` (cleanlab on 5-fold
out-of-fold hybrid probabilities).

Rows go to ``benchmarks/results/active.jsonl`` as they finish (a rerun skips finished ones); ``--summarise-only``
writes ``active.json`` (one row per measurement, ``default: true`` on the shipped strategy's curve rows) and
``active.md`` (mean macro-F1 with 95 % t-intervals over seeds, area under the curve, rows needed to reach
random's mean at 200).

    nice .venv/bin/python benchmarks/active/bench_active.py --seeds 0 --strategies random,stratified     # the shape
    nice .venv/bin/python benchmarks/active/bench_active.py                                           # every strategy, 3 seeds
    nice .venv/bin/python benchmarks/active/bench_active.py --phase audit
    nice .venv/bin/python benchmarks/active/bench_active.py --phase audit --audit-rows 0 --noise 0.1  # the whole split
    nice .venv/bin/python benchmarks/active/bench_active.py --phase timing      # select on 5,000 pool rows, warm cache
    nice .venv/bin/python benchmarks/active/bench_active.py --phase selftrain --log benchmarks/results/active-f.jsonl
    nice .venv/bin/python benchmarks/active/bench_active.py --phase train-selftrain --log benchmarks/results/active-t.jsonl

Self-training (``--phase selftrain``): per seed and size (``--coded``, 50 and 100), that many rows drawn from the
training split stratified by label are the coded rows (``build`` keeps 20 % of them for validation), the rest of
the split without its labels is the pool. ``build`` (``--selftrain-model``, no generation, no student) runs twice
on the same split: arm "build" without the pool, arm "build_unlabeled" with ``unlabeled`` = the pool; each
shipped model is scored on the three official tests. ``--phase train-selftrain`` does the same with ``train``
(``Trainer.train`` without and with ``unlabeled``; arms "train" and "train_unlabeled").
    .venv/bin/python benchmarks/active/bench_active.py --summarise-only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import DATASETS, EMBEDDINGS, RESULTS, load_cache  # noqa: E402

DATASETS = {
    "scientsbank": DATASETS / "semeval2013-scientsbank" / "2way",
    "beetle": DATASETS / "semeval2013-beetle" / "2way",
}
STEPS = "20,50,100,120,150,200,300,400"
SCORER = "hybrid:minilm-l6"
ENCODER = "minilm-l6"
VALIDATION = ("validation-answers", "validation-questions")
#: A strategy may not fall further than this below random at any step (mean of seeds) to become the default.
MAX_SHORTFALL = 0.01
REFERENCE_STEP = 200


def parse() -> argparse.Namespace:
    from synthgrade.select import STRATEGIES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="scientsbank", choices=sorted(DATASETS))
    parser.add_argument("--phase", default="curves", choices=("curves", "audit", "timing", "selftrain", "train-selftrain"))
    parser.add_argument("--coded", default="50,100", help="Self-training: coded rows per build.")
    parser.add_argument("--selftrain-model", default="tfidf", help="Self-training: build's (or train's) --model.")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--steps", default=STEPS)
    parser.add_argument("--noise", default="0.05,0.1", help="Audit: shares of flipped labels.")
    parser.add_argument("--audit-rows", type=int, default=400, help="Audit: coded rows drawn (0: the whole split).")
    parser.add_argument("--embedding-cache", type=Path, default=EMBEDDINGS)
    parser.add_argument("--out", type=Path, default=RESULTS / "active.json")
    parser.add_argument("--summarise-only", action="store_true")
    parser.add_argument(
        "--log", type=Path, default=None, help="Rows log (default: active.jsonl beside --out); the summary reads active*.jsonl."
    )
    return parser.parse_args()


def record(new: list[dict], log: Path) -> None:
    """Append finished rows at once, so a killed run loses no finished measurement."""
    with log.open("a") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in new)
    for row in new:
        print(json.dumps(row), flush=True)


def load(dataset: str, cache: Path) -> tuple[Any, dict[str, Any], list[str]]:
    """(training split, {test name: frame}, labels), the embeddings cache preloaded."""
    from synthgrade.data import load_responses

    root = DATASETS[dataset]
    full = load_responses(root / "train")
    tests = {path.name: load_responses(path) for path in sorted((root / "test").iterdir())}
    load_cache(cache)
    return full, tests, sorted(full["label"].unique())


def carve_validation(full: Any) -> tuple[Any, dict[str, Any]]:
    """(pool, {validation part: rows}): a fifth of the items whole, and 10 % of the other items' rows (fixed seed)."""
    import numpy as np

    rng = np.random.default_rng(2013)
    items = sorted(full["item_id"].unique())
    held_items = set(rng.choice(items, size=max(1, len(items) // 5), replace=False).tolist())
    questions = full[full["item_id"].isin(held_items)]
    rest = full[~full["item_id"].isin(held_items)]
    answers = rest.sample(frac=0.1, random_state=2013)
    pool = rest.drop(index=answers.index).reset_index(drop=True)
    return pool, {"validation-answers": answers.reset_index(drop=True), "validation-questions": questions.reset_index(drop=True)}


def macro_f1(scorer: Any, frame: Any) -> float:
    from sklearn.metrics import f1_score

    predicted = [scorer.labels[i] for i in scorer.predict_proba(frame).argmax(axis=1)]
    return float(f1_score(frame["label"].astype(str), predicted, average="macro"))


def run_curve(dataset: str, strategy: str, seed: int, steps: list[int], pool: Any, evaluation: dict[str, Any],
              labels: list[str], log: Path) -> None:  # fmt: skip
    import pandas as pd

    from synthgrade.select import select_rows
    from synthgrade.select.model import can_fit, fit_guess_model

    hidden = pool.drop(columns=["label"])
    answers = dict(zip(pool["id"].astype(str), pool["label"].astype(str), strict=True))
    coded = pool.iloc[:0]
    scorer = None
    for step in steps:
        tick = time.perf_counter()
        chosen = select_rows(
            hidden, coded if len(coded) else None, step - len(coded), labels=labels, strategy=strategy,
            encoder=ENCODER, seed=seed * 1000 + step, model=scorer, disk_cache=False,
        )  # fmt: skip
        select_seconds = time.perf_counter() - tick
        new = chosen[list(hidden.columns)].assign(label=[answers[str(i)] for i in chosen["id"]])
        coded = pd.concat([coded, new], ignore_index=True)
        if not can_fit(coded, labels):
            scorer = None
            continue
        tick = time.perf_counter()
        scorer = fit_guess_model(coded, labels, SCORER, seed)
        fit_seconds = time.perf_counter() - tick
        rows = []
        for name, frame in evaluation.items():
            rows.append(
                {
                    "dataset": dataset, "labels": "2way", "strategy": strategy, "seed": seed, "coded": int(len(coded)),
                    "test": name, "split": "validation" if name in VALIDATION else "test",
                    "macro_f1": round(macro_f1(scorer, frame), 4), "select_seconds": round(select_seconds, 2),
                    "fit_seconds": round(fit_seconds, 2), "pool_rows": len(pool),
                }
            )  # fmt: skip
        record(rows, log)


def run_audit(dataset: str, seeds: list[int], full: Any, labels: list[str], log: Path, done: set,
              noises: tuple[float, ...] = (0.05, 0.10), size: int = 400) -> None:  # fmt: skip
    import numpy as np

    from synthgrade.select.audit import find_suspects, precision_at_k

    size = size if 0 < size < len(full) else len(full)
    for noise in noises:
        for seed in seeds:
            if (dataset, "audit", noise, seed, size) in done:
                continue
            rng = np.random.default_rng(500 + seed)
            coded = full.iloc[rng.choice(len(full), size=size, replace=False)].reset_index(drop=True)
            flips = rng.choice(len(coded), size=round(noise * len(coded)), replace=False)
            wrong = coded["id"].iloc[flips].astype(str).tolist()
            other = {a: b for a, b in zip(labels, labels[::-1], strict=True)}  # 2-way: the other label
            coded.loc[flips, "label"] = coded.loc[flips, "label"].map(other)
            tick = time.perf_counter()
            suspects = find_suspects(coded, labels, model=SCORER, seed=seed)
            record(
                [
                    {
                        "dataset": dataset, "noise": noise, "seed": seed, "k": len(wrong),
                        "precision_at_k": round(precision_at_k(suspects["id"].astype(str), wrong), 4),
                        "flagged": int(suspects["flagged"].sum()),
                        "flips_flagged": int(suspects.loc[suspects["flagged"], "id"].isin(wrong).sum()),
                        "coded_rows": len(coded), "seconds": round(time.perf_counter() - tick, 1), "kind": "audit",
                    }
                ],
                log,
            )  # fmt: skip


def run_timing(dataset: str, full: Any, tests: dict[str, Any], labels: list[str], log: Path) -> None:
    """select_rows on a 5,000-row pool with 100 coded rows: once to warm the disk cache, then timed (fresh models)."""
    import os
    import tempfile

    import numpy as np
    import pandas as pd

    from synthgrade.select import DEFAULT_STRATEGY, select_rows

    os.environ["SYNTHGRADE_CACHE"] = tempfile.mkdtemp(prefix="bench-active-")
    extra = pd.concat(tests.values(), ignore_index=True)
    pool = pd.concat([full, extra.iloc[: max(0, 5000 - len(full))]], ignore_index=True).drop(columns=["label"])
    rng = np.random.default_rng(0)
    coded = full.iloc[rng.choice(len(full), size=100, replace=False)]
    select_rows(pool, coded, 50, labels=labels, encoder=ENCODER)  # warms the on-disk embedding cache
    from synthgrade import embed

    embed._VECTORS.clear()  # as in a new process: only the disk cache is warm
    tick = time.perf_counter()
    select_rows(pool, coded, 50, labels=labels, encoder=ENCODER)
    seconds = time.perf_counter() - tick
    record([{"dataset": dataset, "kind": "timing", "pool_rows": len(pool), "coded_rows": len(coded), "n": 50,
             "strategy": DEFAULT_STRATEGY, "seconds": round(seconds, 1), "cpus": os.cpu_count(),
             "load_average": round(os.getloadavg()[0], 1)}], log)  # fmt: skip


def selftrain_draw(full: Any, size: int, seed: int, labels: list[str]) -> tuple[Any, Any, Any]:
    """(training rows, validation rows, the uncoded rest of the split without labels): ``size`` rows drawn stratified
    by label are the coded file, 20 % of them (by answer) the validation rows."""
    import numpy as np

    from synthgrade.data.split import split_responses
    from synthgrade.mix import stratified_sample

    coded = stratified_sample(full, size, np.random.default_rng(700 + seed), labels)
    uncoded = full.drop(index=coded.index).drop(columns=["label"]).reset_index(drop=True)
    parts = split_responses(coded.reset_index(drop=True), seed=seed, by="answer", fractions=(0.8, 0.2, 0.0))
    return parts["train"], parts["val"], uncoded


def run_selftrain(dataset: str, seeds: list[int], sizes: list[int], full: Any, tests: dict[str, Any], labels: list[str],
                  model: str, log: Path, done: set) -> None:  # fmt: skip
    """Arms "build" and "build_unlabeled" on the same coded rows; the shipped model of each scored on every test."""
    import tempfile

    from synthgrade.build import BuildConfig, BuildData, run_build
    from synthgrade.modeling import load_scorer
    from synthgrade.train.selftrain import prepare_pool

    for size in sizes:
        for seed in seeds:
            train, val, uncoded = selftrain_draw(full, size, seed, labels)
            for frame in (train, val, *tests.values()):
                frame.attrs["labels"] = labels
            for arm in ("build", "build_unlabeled"):
                if (dataset, arm, size, seed, model) in done:
                    continue
                pool = prepare_pool(uncoded, train, {"validation": val, **tests}) if arm == "build_unlabeled" else None
                data = BuildData(train.copy(), val.copy(), tests, labels, source=f"{dataset}-{size}-{seed}", unlabeled=pool)
                config = BuildConfig(model=model, strategies=[], student="none", seed=seed,
                                     unlabeled="pool" if pool is not None else None)  # fmt: skip
                tick = time.perf_counter()
                with tempfile.TemporaryDirectory(prefix="bench-selftrain-") as out:
                    result = run_build(data, out, config)
                    scorer = load_scorer(Path(out) / "model")
                    entry = next((s for s in result.summary["synthetic_sets"] if s["name"] == "self-training"), {})
                    seconds = round(time.perf_counter() - tick, 1)
                    record([{"dataset": dataset, "arm": arm, "coded": size, "seed": seed, "test": name,
                             "macro_f1": round(macro_f1(scorer, frame), 4), "kind": "selftrain", "model": model,
                             "shipped": result.shipped, "pseudo_rows": entry.get("rows"), "threshold": entry.get("threshold"),
                             "pool_rows": entry.get("usable_pool"), "lower_bound": result.decision.get("lower_bound"),
                             "seconds": seconds} for name, frame in tests.items()], log)  # fmt: skip


def run_train_selftrain(dataset: str, seeds: list[int], sizes: list[int], full: Any, tests: dict[str, Any],
                        labels: list[str], model: str, log: Path, done: set) -> None:  # fmt: skip
    """Arms "train" and "train_unlabeled" (``Trainer.train(..., unlabeled=pool)``) on the draws of ``run_selftrain``."""

    from synthgrade.train import Trainer, TrainingArguments
    from synthgrade.train.selftrain import prepare_pool

    for size in sizes:
        for seed in seeds:
            train, val, uncoded = selftrain_draw(full, size, seed, labels)
            for arm in ("train", "train_unlabeled"):
                if (dataset, arm, size, seed, model) in done:
                    continue
                # as in the build arm: repeats of test texts leave the pool first (train itself sees only --val)
                pool = prepare_pool(uncoded, train, {"validation": val, **tests}).frame if arm == "train_unlabeled" else None
                tick = time.perf_counter()
                args = TrainingArguments(model=model, seed=seed, labels=labels, show_progress=False)
                scorer = Trainer(args).train(train.copy(), val.copy(), unlabeled=pool)
                entry = scorer.info.training.get("self_training") or {}
                seconds = round(time.perf_counter() - tick, 1)
                record([{"dataset": dataset, "arm": arm, "coded": size, "seed": seed, "test": name,
                         "macro_f1": round(macro_f1(scorer, frame), 4), "kind": "selftrain", "model": model,
                         "shipped": "self-training" if entry.get("shipped") else "human-only",
                         "pseudo_rows": entry.get("rows"), "threshold": entry.get("threshold"),
                         "pool_rows": entry.get("usable_pool"), "lower_bound": (entry.get("validation_gain") or [None] * 2)[1],
                         "seconds": seconds} for name, frame in tests.items()], log)  # fmt: skip


def selftrain_summary(rows: list[dict]) -> tuple[list[str], list[dict]]:
    """The self-training section of active.md and its rows of active.json."""
    import pandas as pd

    frame = pd.DataFrame(rows).drop_duplicates(["dataset", "model", "arm", "coded", "seed", "test"], keep="last")
    frame["command"] = frame["arm"].str.removesuffix("_unlabeled")
    lines = ["", "## Self-training: `build` / `train` vs the same with `--unlabeled` (pool = the rest of the training split)",
             "", "Mean macro-F1 over the seeds both arms finished; the difference is with - without `--unlabeled` "
             "(paired by seed).", "",
             "| dataset | command | model | coded | test | seeds | without | with `--unlabeled` | difference | "
             "self-training shipped |", "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    output = []
    for (dataset, command, model, coded, test), group in frame.groupby(["dataset", "command", "model", "coded", "test"]):
        wide = group.pivot(index="seed", columns="arm", values="macro_f1").dropna()
        with_pool = f"{command}_unlabeled"
        if not {command, with_pool} <= set(wide.columns) or wide.empty:
            continue
        unlabeled = group[(group["arm"] == with_pool) & group["seed"].isin(wide.index)]
        shipped = int((unlabeled["shipped"] != "human-only").sum())
        diff = (wide[with_pool] - wide[command]).mean()
        lines.append(f"| {dataset} | {command} | {model} | {coded} | {test} | {len(wide)} | {wide[command].mean():.3f} | "
                     f"{wide[with_pool].mean():.3f} | {diff:+.3f} | {shipped}/{len(wide)} |")  # fmt: skip
        output += [{k: r[k] for k in ("dataset", "arm", "coded", "seed", "test", "macro_f1", "model")}
                   for r in group[group["seed"].isin(wide.index)].to_dict("records")]  # fmt: skip
    return lines, output


def read_logs(out: Path) -> list[dict]:
    """Every row of ``active.jsonl`` and ``active-*.jsonl`` (parallel runs write their own log)."""
    rows = []
    for path in sorted(out.parent.glob(out.stem + "*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def t_interval(values: list[float]) -> tuple[float, float, float]:
    import numpy as np
    from scipy import stats

    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def area(steps: list[int], values: list[float]) -> float:
    """Trapezoid area under the curve over the steps, divided by their span (a mean macro-F1)."""
    import numpy as np

    return float(np.trapezoid(values, steps) / (steps[-1] - steps[0])) if len(steps) > 1 else float(values[0])


def rows_to_reach(steps: list[int], values: list[float], target: float) -> int | None:
    """The first step whose mean reaches ``target`` (None: never within the curve)."""
    return next((s for s, v in zip(steps, values, strict=True) if v >= target - 1e-9), None)


def choose_default(data: Any) -> tuple[str, dict[str, Any]]:
    """The strategy with the largest mean validation AUC gain over random among those whose AUC on neither validation
    part is more than MAX_SHORTFALL below random's, each compared with random on the seeds both have."""
    validation = data[data["split"] == "validation"]
    random = validation[validation["strategy"] == "random"]
    board = {}
    for strategy, group in validation.groupby("strategy"):
        seeds = sorted(set(group["seed"]) & set(random["seed"]))
        if not seeds:
            continue
        mine = group[group["seed"].isin(seeds)].groupby(["test", "coded"])["macro_f1"].mean()
        base = random[random["seed"].isin(seeds)].groupby(["test", "coded"])["macro_f1"].mean()
        shared = mine.index.intersection(base.index)
        shortfall = float((base[shared] - mine[shared]).max())
        aucs = [curve_area(part) for _, part in mine[shared].groupby(level="test")]
        base_aucs = [curve_area(part) for _, part in base[shared].groupby(level="test")]
        board[strategy] = {
            "seeds": [int(x) for x in seeds],
            "worst_part_auc_gap": round(max(b - a for a, b in zip(aucs, base_aucs, strict=True)), 4),
            "validation_auc": round(sum(aucs) / len(aucs), 4),
            "random_auc_same_seeds": round(sum(base_aucs) / len(base_aucs), 4),
            "max_shortfall_to_random": round(shortfall, 4),
        }
    # Per step, one seed's curve swings by more than 0.05, so the guard is on each validation part's area instead.
    eligible = [s for s, b in board.items() if s == "random" or b["worst_part_auc_gap"] <= MAX_SHORTFALL]
    chosen = max(eligible, key=lambda s: board[s]["validation_auc"] - board[s]["random_auc_same_seeds"])
    return chosen, board


def choose_across(boards: list[dict[str, Any]]) -> tuple[str, dict[str, float]]:
    """The default over every data set (one :func:`choose_default` board each): among strategies run and eligible on
    each, the largest smallest-over-data-sets validation AUC gain over random (a default must hold on both domains)."""
    names = set.intersection(*(set(board) for board in boards))
    eligible = [s for s in names if all(s == "random" or b[s]["worst_part_auc_gap"] <= MAX_SHORTFALL for b in boards)]
    gains = {s: min(b[s]["validation_auc"] - b[s]["random_auc_same_seeds"] for b in boards) for s in eligible}
    return max(gains, key=lambda s: (gains[s], s == "random")), gains


def curve_area(means: Any) -> float:
    """:func:`area` of a mean curve indexed by (test, coded)."""
    return area(list(means.index.get_level_values("coded")), means.tolist())


def complete_curves(curves: Any) -> Any:
    """Only curves that reached their last step (a curve still running or killed is left out)."""
    last = curves["coded"].max()
    finished = curves.groupby(["dataset", "strategy", "seed"])["coded"].transform("max") == last
    return curves[finished]


def summarise(rows: list[dict], out: Path) -> None:
    import pandas as pd

    curves = pd.DataFrame([r for r in rows if "strategy" in r and "kind" not in r])
    if len(curves):
        curves = complete_curves(curves.drop_duplicates(["dataset", "strategy", "seed", "coded", "test"], keep="last"))
    audits = [r for r in rows if r.get("kind") == "audit"]
    timing = [r for r in rows if r.get("kind") == "timing"]
    selftrain = [r for r in rows if r.get("kind") == "selftrain"]
    lines = ["# Choosing what to code: active-learning curves (macro-F1, mean over seeds [95% t-interval])", "",
             "Written by `benchmarks/active/bench_active.py`; one row per measurement in `active.json`.", ""]  # fmt: skip
    output: list[dict] = []
    from synthgrade.select import DEFAULT_STRATEGY

    choices = {dataset: choose_default(data) for dataset, data in curves.groupby("dataset")} if len(curves) else {}
    if choices:
        overall, gains = choose_across([board for _, board in choices.values()])
        agrees = "the same" if overall == DEFAULT_STRATEGY else f"NOT the shipped default ({DEFAULT_STRATEGY})"
        table = "; ".join(f"{s} {g:+.3f}" for s, g in sorted(gains.items(), key=lambda kv: -kv[1]))
        lines += [f"The strategy `select` ships as its default (`synthgrade.select.DEFAULT_STRATEGY`): **{DEFAULT_STRATEGY}**; "
                  "its curve rows carry `default: true` in `active.json`. Across the data sets the rule chooses "
                  f"**{overall}**, {agrees}: the largest smaller-of-the-data-sets validation AUC gain over random "
                  f"among the strategies eligible on every data set ({table}).", ""]  # fmt: skip
    for dataset, data in curves.groupby("dataset") if len(curves) else []:
        chosen, board = choices[dataset]
        seeds = [int(x) for x in sorted(data["seed"].unique())]
        agrees = "the shipped default" if chosen == DEFAULT_STRATEGY else f"NOT the shipped default ({DEFAULT_STRATEGY})"
        lines += [f"## {dataset} 2-way: pool {int(data['pool_rows'].iloc[0])} rows, seeds {seeds}", "",
                  f"Chosen on this data set's validation rows: **{chosen}**, {agrees} (largest validation AUC gain over "
                  f"random, on the same seeds, among the strategies whose AUC on neither validation part is more than "
                  f"{MAX_SHORTFALL} below random's).", "",
                  "| strategy | seeds | validation AUC | random's, same seeds | worst part: AUC gap to random | "
                  "worst step: gap to random |", "|---|---|---|---|---|---|"]  # fmt: skip
        lines += [
            f"| {s} | {b['seeds']} | {b['validation_auc']:.3f} | {b['random_auc_same_seeds']:.3f} | "
            f"{b['worst_part_auc_gap']:+.3f} | {b['max_shortfall_to_random']:+.3f} |"
            for s, b in sorted(board.items(), key=lambda kv: kv[1]["random_auc_same_seeds"] - kv[1]["validation_auc"])
        ]
        for row in data.to_dict("records"):
            output.append({k: row[k] for k in ("dataset", "labels", "strategy", "seed", "coded", "test", "split", "macro_f1")}
                          | {"default": row["strategy"] == DEFAULT_STRATEGY})  # fmt: skip
        steps = sorted(data["coded"].unique())
        for test, part in data.groupby("test"):
            lines += ["", f"### {test}", "", "| strategy | " + " | ".join(str(s) for s in steps)
                      + " | AUC | rows to reach random@200 | worst gap to random |",
                      "|---|" + "---|" * (len(steps) + 3)]  # fmt: skip
            random_means = part[part["strategy"] == "random"].groupby("coded")["macro_f1"].mean()
            target = random_means.get(REFERENCE_STEP)
            for strategy, group in sorted(part.groupby("strategy"), key=lambda kv: (kv[0] != DEFAULT_STRATEGY, kv[0])):
                cells, mean_curve = [], []
                for step in steps:
                    values = group[group["coded"] == step]["macro_f1"].tolist()
                    if not values:
                        cells.append("")
                        continue
                    mean, low, high = t_interval(values)
                    mean_curve.append((step, mean))
                    cells.append(f"{mean:.3f} [{low:.3f}, {high:.3f}]" if len(values) > 1 else f"{mean:.3f}")
                xs, ys = [s for s, _ in mean_curve], [m for _, m in mean_curve]
                reach = rows_to_reach(xs, ys, target) if target is not None else None
                gaps = [random_means[s] - m for s, m in mean_curve if s in random_means.index]
                name = f"**{strategy}** (default)" if strategy == DEFAULT_STRATEGY else strategy
                reached = reach if reach else f"> {xs[-1]}"
                lines.append(f"| {name} | " + " | ".join(cells) + f" | {area(xs, ys):.3f} | {reached} | {max(gaps):+.3f} |")
    if audits:
        lines += ["", "## Audit: precision at k on injected label flips (k = flips)", "",
                  "| dataset | coded rows | noise | seeds | precision@k mean [95% CI] | flagged (mean) | seconds (mean) |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        frame = pd.DataFrame(audits)
        for (dataset, size, noise), group in frame.groupby(["dataset", "coded_rows", "noise"]):
            mean, low, high = t_interval(group["precision_at_k"].tolist())
            interval = f"{mean:.3f} [{low:.3f}, {high:.3f}]" if len(group) > 1 else f"{mean:.3f}"
            lines.append(f"| {dataset} | {size} | {noise:.0%} | {len(group)} | {interval} | {group['flagged'].mean():.1f} "
                         f"| {group['seconds'].mean():.0f} |")  # fmt: skip
            keys = ("dataset", "coded_rows", "noise", "seed", "k", "precision_at_k")
            output += [{k: r[k] for k in keys} for r in group.to_dict("records")]
    if timing:
        # the shipped strategy's latest timing: what a user of `select` waits for (others only if it has none)
        last = ([r for r in timing if r["strategy"] == DEFAULT_STRATEGY] or timing)[-1]
        lines += ["", f"## select timing: {last['pool_rows']} pool rows, {last['coded_rows']} coded, n={last['n']}, "
                  f"strategy {last['strategy']}, on-disk embedding cache warm: **{last['seconds']} s** "
                  f"({last['cpus']} CPUs shared, load average {last.get('load_average')})"]  # fmt: skip
        output += [{k: v for k, v in last.items() if k != "kind"} | {"kind": "timing"}]
    if selftrain:
        section, selftrain_rows = selftrain_summary(selftrain)
        lines += section
        output += selftrain_rows
    out.write_text(json.dumps(output, indent=1) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    args = parse()
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    log = args.log or args.out.with_suffix(".jsonl")
    rows = read_logs(args.out)
    if args.summarise_only:
        summarise(rows, args.out)
        return 0
    full, tests, labels = load(args.dataset, args.embedding_cache)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.phase == "audit":
        done = {(r["dataset"], "audit", r["noise"], r["seed"], r["coded_rows"]) for r in rows if r.get("kind") == "audit"}
        noises = tuple(float(x) for x in args.noise.split(","))
        run_audit(args.dataset, seeds, full, labels, log, done, noises, args.audit_rows)
    elif args.phase == "timing":
        run_timing(args.dataset, full, tests, labels, log)
    elif args.phase == "selftrain":
        done = {(r["dataset"], r["arm"], r["coded"], r["seed"], r["model"]) for r in rows if r.get("kind") == "selftrain"}
        sizes = [int(s) for s in args.coded.split(",")]
        run_selftrain(args.dataset, seeds, sizes, full, tests, labels, args.selftrain_model, log, done)
    elif args.phase == "train-selftrain":
        done = {(r["dataset"], r["arm"], r["coded"], r["seed"], r["model"]) for r in rows if r.get("kind") == "selftrain"}
        sizes = [int(s) for s in args.coded.split(",")]
        run_train_selftrain(args.dataset, seeds, sizes, full, tests, labels, args.selftrain_model, log, done)
    else:
        pool, validation = carve_validation(full)
        evaluation = validation | tests
        steps = [int(s) for s in args.steps.split(",")]
        done = {(r["dataset"], r["strategy"], r["seed"]) for r in rows if r.get("coded") == steps[-1] and "kind" not in r}
        for seed in seeds:
            for strategy in args.strategies.split(","):
                if (args.dataset, strategy, seed) in done:
                    continue
                # A curve killed half-way is rerun whole; the summary keeps the last row of each measurement.
                run_curve(args.dataset, strategy, seed, steps, pool, evaluation, labels, log)
    summarise(read_logs(args.out), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
