"""Probe: the hybrid with and without its per-item character model, validation macro-F1 only (bench draws).

.venv/bin/python benchmarks/scoring/probe_item_chars.py --budgets 50,100,400 --seeds 0,1,2 --encoders minilm-l6
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import add_cell_arguments, draw, encoder_cells, training_split  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    add_cell_arguments(parser, budgets="50,100,400", encoders="minilm-l6")
    args = parser.parse_args()

    from synthgrade.scorers import TrainingArguments, hybrid
    from synthgrade.scorers.hybrid import features as hybrid_features

    full, labels = training_split()
    for budget, encoder, seed in encoder_cells(args):
        train, val, _ = draw(full, budget, seed, labels)
        scores = []
        for on in (False, True):
            hybrid_features.ITEM_CHARS_MIN_ROWS = 10 if on else 10**9  # off: no item has that many rows
            tick = time.perf_counter()
            targs = TrainingArguments(model=f"hybrid:{encoder}", show_progress=False, seed=seed, labels=labels)
            scorer = hybrid.HybridScorer.fit(train, val, targs, labels)
            training = scorer.info.training
            scores.append(
                f"{'with' if on else 'without'}: val {training['validation']['macro_f1']:.4f} "
                f"cv {training['cv_macro_f1'] or float('nan'):.4f} C {training['best']['seen']['C']:g} "
                f"({time.perf_counter() - tick:.0f}s)"
            )
        print(f"{budget}\t{encoder}\tseed{seed}\t" + "\t".join(scores), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
