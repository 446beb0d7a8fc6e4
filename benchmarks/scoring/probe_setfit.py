"""Probe: SetFit-style contrastive tuning of the sentence-transformer body at the smallest budgets.

Issue 10 asks to compare SetFit (the ``setfit`` library: contrastive pairs tune the MiniLM body, then a
logistic-regression head) with the default scorer at small budgets and keep it where it wins. Judged on rows
of the official *training* split outside the bench's draw (never the tests): the items of a random 20 % of the
remaining items are held out whole ("unseen items", as for new questions) and ``--seen-rows`` rows of the
other items ("seen items"). Per (budget, seed), macro-F1 of:

- ``hybrid``: hybrid:minilm-l6, the auto winner at these budgets (the baseline);
- ``setfit``: SetFitModel over all-MiniLM-L6-v2, text = the item's context and the response, LR head;
- ``hybrid-setfit``: the hybrid over the SetFit-tuned body (the tuned encoder replaces MiniLM in every feature).

    pip install setfit   # not a dependency of synthgrade unless it wins
    .venv/bin/python benchmarks/scoring/probe_setfit.py --budgets 50,100 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import add_cell_arguments, cells, draw, held_out_items, training_split  # noqa: E402


def setfit_texts(frame: Any) -> list[str]:
    from synthgrade.modeling import item_context

    return [f"{item_context(r.item_text, r.reference)} Response: {r.text}" for r in frame.itertuples()]


def scored(predict: Callable[[Any], Any], checks: dict[str, Any], labels: list[str]) -> dict[str, float]:
    from sklearn.metrics import f1_score

    from synthgrade.data import label_indices

    return {name: f1_score(label_indices(frame, labels), predict(frame), average="macro") for name, frame in checks.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    add_cell_arguments(parser, budgets="50,100")
    parser.add_argument("--seen-rows", type=int, default=600)
    parser.add_argument("--iterations", type=int, default=20, help="SetFit num_iterations (pairs per row and label).")
    args = parser.parse_args()
    import numpy as np
    from datasets import Dataset
    from setfit import SetFitModel
    from setfit import Trainer as SetFitTrainer
    from setfit import TrainingArguments as SetFitArguments
    from transformers.utils import logging as hf_logging

    from synthgrade.data import label_indices
    from synthgrade.models import resolve_model
    from synthgrade.train import Trainer, TrainingArguments

    hf_logging.set_verbosity_error()
    full, labels = training_split()
    body = str(resolve_model("minilm-l6").path)
    for budget, seed in cells(args):
        train, val, rest = draw(full, budget, seed, labels)
        unseen, others = held_out_items(rest, seed)
        checks = {"unseen-items": unseen, "seen-items": others.sample(n=args.seen_rows, random_state=seed)}
        scores: dict[str, dict[str, float]] = {}
        seconds: dict[str, float] = {}
        tick = time.perf_counter()
        hybrid = Trainer(TrainingArguments(model="hybrid:minilm-l6", show_progress=False, seed=seed, labels=labels))
        hybrid_scorer = hybrid.train(train, val)
        scores["hybrid"] = scored(lambda f, m=hybrid_scorer: m.predict_proba(f).argmax(1), checks, labels)
        seconds["hybrid"] = time.perf_counter() - tick

        tick = time.perf_counter()  # SetFit sees the training rows only, as the hybrid does (validation chooses)
        model = SetFitModel.from_pretrained(body)
        data = Dataset.from_dict({"text": setfit_texts(train), "label": label_indices(train, labels).tolist()})
        with tempfile.TemporaryDirectory(prefix="probe-setfit-") as scratch:  # trainer state, never kept
            setfit_args = SetFitArguments(
                batch_size=16, num_epochs=1, num_iterations=args.iterations, seed=seed, report_to="none",
                output_dir=scratch, save_strategy="no",
            )  # fmt: skip
            SetFitTrainer(model=model, args=setfit_args, train_dataset=data).train()
        scores["setfit"] = scored(lambda f, m=model: np.asarray(m.predict(setfit_texts(f))), checks, labels)
        seconds["setfit"] = time.perf_counter() - tick

        tick = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            model.model_body.save(folder)
            tuned_args = TrainingArguments(model=f"hybrid:{folder}", show_progress=False, seed=seed, labels=labels)
            tuned = Trainer(tuned_args).train(train, val)
            scores["hybrid-setfit"] = scored(lambda f, m=tuned: m.predict_proba(f).argmax(1), checks, labels)
        seconds["hybrid-setfit"] = time.perf_counter() - tick
        line = "\t".join(
            f"{name}: unseen {s['unseen-items']:.4f} seen {s['seen-items']:.4f} ({seconds[name]:.0f}s)"
            for name, s in scores.items()
        )
        print(f"{budget}\tseed{seed}\t{line}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
