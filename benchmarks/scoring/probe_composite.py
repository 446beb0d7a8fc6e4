"""Probe: a hybrid over two encoders at once (``hybrid:minilm-l6+mpnet-base``) against each encoder alone.

Validation rows only (the bench's 20 % of each draw; never the tests): for each (budget, seed) prints the
validation macro-F1 and the training rows' cross-validated macro-F1 of ``hybrid:minilm-l6``,
``hybrid:mpnet-base``, the composite, and (for comparison) the average of the two single hybrids'
probabilities, which would need two models shipped side by side.

    .venv/bin/python benchmarks/scoring/probe_composite.py --budgets all,400,100 --seeds 0,1,2

Result (``results/archive/composite.txt``, all rows, seeds 0-2): the composite is 0.002 below the better single
hybrid on validation on average, the average of two no better, so the composite encoder was removed again. The
probe runs at commit 81be517, where ``hybrid:<a>+<b>`` exists.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import EMBEDDINGS, add_cell_arguments, cells, draw, save_cache, training_split  # noqa: E402

SINGLES = ("hybrid:minilm-l6", "hybrid:mpnet-base")
COMPOSITE = "hybrid:minilm-l6+mpnet-base"


def main() -> int:
    parser = argparse.ArgumentParser()
    add_cell_arguments(parser, budgets="all")
    args = parser.parse_args()
    import numpy as np
    from sklearn.metrics import f1_score

    from synthgrade.data import label_indices
    from synthgrade.train import Trainer, TrainingArguments

    full, labels = training_split()
    for budget, seed in cells(args):
        train, val, _ = draw(full, budget, seed, labels)
        y_val = label_indices(val, labels)
        probas, out = {}, []
        for spec in (*SINGLES, COMPOSITE):
            tick = time.perf_counter()
            scorer = Trainer(TrainingArguments(model=spec, show_progress=False, seed=seed, labels=labels)).train(train, val)
            probas[spec] = scorer.predict_proba(val)
            cv = scorer.info.training.get("cv_macro_f1")
            val_f1 = f1_score(y_val, probas[spec].argmax(1), average="macro")
            out.append(f"{spec} val {val_f1:.4f} cv {cv:.4f} ({time.perf_counter() - tick:.0f}s)")
            save_cache(EMBEDDINGS)
        mean = np.mean([probas[s] for s in SINGLES], axis=0)
        out.append(f"average-of-two val {f1_score(y_val, mean.argmax(1), average='macro'):.4f}")
        print(f"{budget}\tseed{seed}\t" + "\t".join(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
