"""Probe: static students of a hybrid teacher, one line per (budget, seed) and student variant.

Judged on rows of the official *training* split that neither teacher nor student saw (never the tests): for
each (budget, seed), the bench's draw trains the teacher; of the remaining rows, the items of a random 20 %
of items are held out whole ("unseen items", as for new questions) and 10 % of the other rows ("seen items");
the student learns from the teacher's labels on the rest. Printed: human-label macro-F1 of teacher and
student on both held-out sets, the student's share of the teacher's, and their agreement; at the end the
mean share per variant and budget. ``--variants`` picks the students (see ``VARIANTS``); ``--out`` also
writes the lines to a file (benchmarks/results/probes/students-*.txt).

    .venv/bin/python benchmarks/probe_students.py --budgets 100,400 --seeds 0,1,2 --variants map,soft
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

#: Student variants: the switches each sets (``NAME`` in distill/hybrid_student.py, ``tuning.NAME`` in
#: distill/static_tuning.py); the rest keep ``DEFAULTS``.
DEFAULTS: dict[str, object] = {
    "PROJECT_STATIC": True,
    "TUNE_STATIC": False,
    "STATIC_DIMS": 256,
    "tuning.TUNE_PENALTY": 1.0,
    "tuning.TUNE_EPOCHS": 8,
}
VARIANTS: dict[str, dict[str, object]] = {
    "raw": {"PROJECT_STATIC": False},  # static vectors as distilled
    "map": {},  # + the ridge map into the teacher's space
    "tuned": {"TUNE_STATIC": True},  # + token vectors and map tuned toward the teacher's sentence embeddings
    "d384": {"STATIC_DIMS": 384},  # map over a static encoder without the PCA cut (all 384 MiniLM dims)
    "d384-tuned": {"STATIC_DIMS": 384, "TUNE_STATIC": True},
    "tuned-loose": {"TUNE_STATIC": True, "tuning.TUNE_PENALTY": 0.1, "tuning.TUNE_EPOCHS": 12},
}


def set_switches(switches: dict[str, object]) -> None:
    from synthgrade.distill import hybrid_student, static_tuning

    for name, value in switches.items():
        module, attribute = (static_tuning, name[len("tuning.") :]) if name.startswith("tuning.") else (hybrid_student, name)
        if not hasattr(module, attribute):
            raise SystemExit(f"probe_students: {module.__name__} has no {attribute}")
        setattr(module, attribute, value)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", default="50")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--teacher", default="hybrid:minilm-l6")
    parser.add_argument("--variants", default="raw,map", help="comma list of " + ", ".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    lines: list[str] = [f"# {' '.join(sys.argv)}"]

    def emit(line: str) -> None:
        print(line, flush=True)
        lines.append(line)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text("\n".join(lines) + "\n")

    import numpy as np
    from bench_scorers import DATA, draw, load_cache, save_cache
    from sklearn.metrics import f1_score

    from synthgrade.data import load_responses
    from synthgrade.distill import DistillationArguments, DistillationTrainer
    from synthgrade.train import Trainer, TrainingArguments

    shares: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    full = load_responses(DATA / "train")
    labels = sorted(full["label"].unique())
    load_cache(ROOT / ".cache" / "embeddings")
    for budget in args.budgets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            train, val, rest = draw(full, budget, seed, labels)
            rng = np.random.default_rng(100 + seed)
            items = sorted(rest["item_id"].unique())
            held = set(rng.choice(items, size=max(1, len(items) // 5), replace=False))
            unseen = rest[rest["item_id"].isin(held)]
            others = rest[~rest["item_id"].isin(held)]
            seen = others.sample(frac=0.1, random_state=seed)
            transfer = others.drop(index=seen.index)
            teacher = Trainer(TrainingArguments(model=args.teacher, show_progress=False, seed=seed, labels=labels)).train(
                train, val
            )
            checks = {"unseen-items": unseen, "seen-items": seen}
            teacher_pred = {k: teacher.predict(v) for k, v in checks.items()}
            teacher_f1 = {k: f1_score(v["label"], teacher_pred[k], average="macro") for k, v in checks.items()}
            out = []
            for variant in variants:
                set_switches(DEFAULTS | VARIANTS[variant])
                tick = time.perf_counter()
                student = DistillationTrainer(
                    teacher, DistillationArguments(student="static", show_progress=False, seed=seed, speed_rows=0)
                ).train(train, val, transfer.drop(columns=["label"]))
                for name, frame in checks.items():
                    pred = student.predict(frame)
                    f1 = f1_score(frame["label"], pred, average="macro")
                    agree = float(np.mean(np.asarray(pred) == np.asarray(teacher_pred[name])))
                    shares[(variant, budget, name)].append(f1 / teacher_f1[name])
                    out.append(
                        f"{variant} {name}: teacher {teacher_f1[name]:.4f} student {f1:.4f} "
                        f"share {f1 / teacher_f1[name]:.3f} agree {agree:.3f}"
                    )
                out.append(f"({time.perf_counter() - tick:.0f}s)")
            emit(f"{budget}\tseed{seed}\t" + "\t".join(out))
            save_cache(ROOT / ".cache" / "embeddings")
    for (variant, budget, name), values in shares.items():
        emit(f"mean share {variant} budget {budget} {name}: {np.mean(values):.3f} over {len(values)} seeds")
    set_switches(DEFAULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
