"""Probe: fine-tuning with transformers' linear warm-up schedule vs the hand-written one it replaced.

The old schedule multiplied the learning rate by ``(step + 1) / warmup`` during warm-up, transformers'
``get_linear_schedule_with_warmup`` by ``step / warmup`` (its first step has learning rate 0); both decay
linearly to 0 at the last step. Same draws (bench_scorers), validation macro-F1 only (no test rows):

    .venv/bin/python benchmarks/training/probe_schedule.py --budgets 100 --seeds 0,1,2 --model minilm-l6
    .venv/bin/python benchmarks/training/probe_schedule.py --toy   # seconds: the tests' tiny encoder and separable toy set

``--toy`` prints the whole validation curve for warm-up ratios 0, 0.1 and 0.3: without warm-up the two
schedules are the same and so are the curves, to the last digit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import DATA, PROBES, ROOT, draw, macro_f1  # noqa: E402


def old_schedule(self, model, total_steps):  # the replaced LambdaLR, for comparison only
    import torch

    optimizer, _ = ORIGINAL(self, model, total_steps)
    warmup = int(total_steps * self.args.warmup_ratio)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    for group in optimizer.param_groups:  # undo the initial lr=0 the transformers scheduler set
        group["lr"] = group["initial_lr"]
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def toy() -> list[dict]:
    """Both schedules on the separable toy set of tests/test_train.py with a tiny random encoder."""
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import make_tiny_encoder
    from test_train import toy as toy_rows

    from synthgrade.scorers.transformer import TransformerTrainer
    from synthgrade.train import Trainer, TrainingArguments

    encoder = make_tiny_encoder(Path(tempfile.mkdtemp()))
    rows = []
    for warmup in (0.0, 0.1, 0.3):
        for name in ("hand-written", "transformers"):
            TransformerTrainer.create_optimizer_and_scheduler = old_schedule if name == "hand-written" else ORIGINAL
            settings = {"epochs": 4, "lr": 3e-3, "batch_size": 8, "patience": 0, "max_length": 32, "warmup_ratio": warmup}
            training = TrainingArguments(model=str(encoder), show_progress=False, **settings)
            scorer = Trainer(training).train(toy_rows("t", 80), toy_rows("v", 24, start=1000))
            curve = [[round(p[k], 4) for k in ("train_loss", "val_loss", "val_macro_f1")] for p in scorer.info.training["curve"]]
            rows.append({"warmup_ratio": warmup, "schedule": name, "curve (train loss, val loss, val macro-F1)": curve})
            print(json.dumps(rows[-1]), flush=True)
    TransformerTrainer.create_optimizer_and_scheduler = ORIGINAL
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--toy", action="store_true")
    parser.add_argument("--budgets", default="100")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=PROBES / "schedule.json")
    args = parser.parse_args()

    from synthgrade.data import load_responses
    from synthgrade.scorers.transformer import TransformerTrainer
    from synthgrade.train import Trainer, TrainingArguments

    global ORIGINAL
    ORIGINAL = TransformerTrainer.create_optimizer_and_scheduler
    if args.toy:
        out = PROBES / "schedule-toy.json"
        out.write_text(json.dumps(toy(), indent=1) + "\n")
        print(f"wrote {out}")
        return 0
    full = load_responses(DATA / "train")
    labels = sorted(full["label"].unique())
    rows = []
    for budget in args.budgets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            train, val, _ = draw(full, budget, seed, labels)
            for name in ("hand-written", "transformers"):
                TransformerTrainer.create_optimizer_and_scheduler = old_schedule if name == "hand-written" else ORIGINAL
                tick = time.perf_counter()
                training = TrainingArguments(model=args.model, epochs=args.epochs, show_progress=False, seed=seed, labels=labels)
                scorer = Trainer(training).train(train, val)
                f1, _ = macro_f1(scorer, val)
                row = {"budget": budget, "seed": seed, "schedule": name, "val_macro_f1": round(f1, 4)}
                row["seconds"] = round(time.perf_counter() - tick, 1)
                print(json.dumps(row), flush=True)
                rows.append(row)
    TransformerTrainer.create_optimizer_and_scheduler = ORIGINAL
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


ORIGINAL = None

if __name__ == "__main__":
    raise SystemExit(main())
