"""Probe: static students of the hybrid auto winner with and without the map into the teacher's space.

Judged on rows of the official *training* split that neither teacher nor student saw (never the tests): for
each (budget, seed), the bench's draw trains the teacher; of the remaining rows, the items of a random 20 %
of items are held out whole ("unseen items", as for new questions) and 10 % of the other rows ("seen items");
the student learns from the teacher's labels on the rest. Printed: human-label macro-F1 of teacher and
student on both held-out sets, the student's share of the teacher's, and their agreement.

    .venv/bin/python benchmarks/training/probe_students.py --budgets 50 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import EMBEDDINGS, add_cell_arguments, cells, draw, held_out_items, save_cache, training_split  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    add_cell_arguments(parser)
    parser.add_argument("--teacher", default="hybrid:minilm-l6")
    args = parser.parse_args()
    import numpy as np
    from sklearn.metrics import f1_score

    from synthgrade.distill import DistillationArguments, DistillationTrainer, hybrid_student
    from synthgrade.train import Trainer, TrainingArguments

    full, labels = training_split()
    for budget, seed in cells(args):
        train, val, rest = draw(full, budget, seed, labels)
        unseen, others = held_out_items(rest, seed)
        seen = others.sample(frac=0.1, random_state=seed)
        transfer = others.drop(index=seen.index)
        teacher = Trainer(TrainingArguments(model=args.teacher, show_progress=False, seed=seed, labels=labels)).train(
            train, val
        )
        checks = {"unseen-items": unseen, "seen-items": seen}
        teacher_pred = {k: teacher.predict(v) for k, v in checks.items()}
        teacher_f1 = {k: f1_score(v["label"], teacher_pred[k], average="macro") for k, v in checks.items()}
        out = []
        for project in (False, True):
            hybrid_student.PROJECT_STATIC = project
            tick = time.perf_counter()
            student = DistillationTrainer(
                teacher, DistillationArguments(student="static", show_progress=False, seed=seed, speed_rows=0)
            ).train(train, val, transfer.drop(columns=["label"]))
            for name, frame in checks.items():
                pred = student.predict(frame)
                f1 = f1_score(frame["label"], pred, average="macro")
                agree = float(np.mean(np.asarray(pred) == np.asarray(teacher_pred[name])))
                out.append(
                    f"{'map' if project else 'raw'} {name}: teacher {teacher_f1[name]:.4f} student {f1:.4f} "
                    f"share {f1 / teacher_f1[name]:.3f} agree {agree:.3f}"
                )
            out.append(f"({time.perf_counter() - tick:.0f}s)")
        print(f"{budget}\tseed{seed}\t" + "\t".join(out), flush=True)
        save_cache(EMBEDDINGS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
