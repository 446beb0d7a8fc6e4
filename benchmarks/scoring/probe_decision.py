"""Probe: the hybrid's decision rule for macro-F1 (validation rows and cross-validation only; never the tests).

For each (budget, seed, encoder), three variants of the seen/unseen heads:
- ``plain``: logistic regression, argmax (the current default);
- ``balanced``: ``class_weight="balanced"`` (``--class-weights``);
- ``shift``: ``plain`` with a per-class logit shift chosen to maximise the out-of-fold macro-F1 of the
  training rows (seen head, chosen C), then applied to the validation rows.
Prints validation macro-F1 (and the cross-validated macro-F1 where the fit records one).

    .venv/bin/python benchmarks/scoring/probe_decision.py --budgets all --seeds 0,1,2 --encoders minilm-l6
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import add_cell_arguments, draw, encoder_cells, training_split  # noqa: E402

SHIFTS = [round(0.1 * k, 1) for k in range(-10, 11)]


def main() -> int:
    parser = argparse.ArgumentParser()
    add_cell_arguments(parser, budgets="all", encoders="minilm-l6")
    args = parser.parse_args()
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from synthgrade.data import label_indices
    from synthgrade.modeling import build_inputs
    from synthgrade.scorers import TrainingArguments, cv, hybrid

    full, labels = training_split()
    for budget, encoder, seed in encoder_cells(args):
        train, val, _ = draw(full, budget, seed, labels)
        y_train, y_val = label_indices(train, labels), label_indices(val, labels)
        out = []
        for balanced in (False, True):
            tick = time.perf_counter()
            targs = TrainingArguments(
                model=f"hybrid:{encoder}", show_progress=False, seed=seed, labels=labels, class_weights=balanced
            )
            scorer = hybrid.HybridScorer.fit(train, val, targs, labels)
            training = scorer.info.training
            out.append(
                f"{'balanced' if balanced else 'plain'}: val {training['validation']['macro_f1']:.4f} "
                f"cv {training['cv_macro_f1'] or float('nan'):.4f} ({time.perf_counter() - tick:.0f}s)"
            )
            if balanced:
                continue
            # Out-of-fold seen-head log-odds at the chosen C, then the shift that maximises their macro-F1.
            contexts, responses, _ = build_inputs(train, scorer.info)
            features = scorer.features
            seen_matrix, _ = features.matrices(features.blocks(contexts, responses, training=True))
            c = float(scorer.heads["seen"].C)
            oof = np.zeros((len(y_train), len(labels)))
            for a, b in cv.splits(y_train, seed):
                model = LogisticRegression(C=c, max_iter=3000).fit(seen_matrix[a], y_train[a])
                oof[b] = model.predict_log_proba(seen_matrix[b])
            margin = oof[:, 1] - oof[:, 0]
            scores = {s: f1_score(y_train, (margin + s > 0).astype(int), average="macro") for s in SHIFTS}
            shift = max(SHIFTS, key=lambda s: (scores[s], -abs(s)))
            proba = np.log(np.clip(scorer.predict_proba(val), 1e-12, 1))
            val_shifted = f1_score(y_val, (proba[:, 1] - proba[:, 0] + shift > 0).astype(int), average="macro")
            out.append(f"shift {shift:+.1f}: oof {scores[shift]:.4f} (at 0: {scores[0.0]:.4f}) val {val_shifted:.4f}")
        print(f"{budget}\t{encoder}\tseed{seed}\t" + "\t".join(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
