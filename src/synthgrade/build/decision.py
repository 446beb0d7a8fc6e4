"""Whether synthetic data ships: a paired bootstrap of the held-out gain, corrected for the cells tried.

The evidence is every human row a model was not fitted on: the validation rows, pooled with the
out-of-fold predictions of the human training rows where the scorer kind cross-validates (TF-IDF and
hybrids do; a rewritten row shares its source's fold, so no model is scored on a row it saw in any
form). With 50 labels, validation alone holds 10 rows and could never support a gain.

The best grid cell is picked on the same held-out rows it is then compared on, so its raw gain is
optimistic. The rule asks more of it the more cells were tried (Bonferroni): synthetic data ships only
when the one-sided lower bound of its paired bootstrap gain in macro-F1 over human-only on those rows, at
level ``1 - (1 - confidence) / cells``, exceeds ``margin``. The labels counted in macro-F1 are fixed on
the full evidence before resampling (:func:`synthgrade.metrics.present_labels`). Little evidence
therefore ships human-only unless the gain is large, which is the point: a user must never get a model
that augmentation made worse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synthgrade.metrics import confusion_matrices, confusion_metrics, present_labels


def macro_f1_samples(y: np.ndarray, predicted: np.ndarray, k: int, index: np.ndarray | None, present: np.ndarray) -> np.ndarray:
    return confusion_metrics(confusion_matrices(y, predicted, k, index), present, quadratic=False)["macro_f1"]


def pooled_evidence(
    y_val: np.ndarray,
    val_a: np.ndarray,
    val_b: np.ndarray,
    train_labels: dict[str, int],
    oof_a: dict[str, Any] | None,
    oof_b: dict[str, Any] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(truth, predictions of a, predictions of b, out-of-fold rows used): validation rows plus the human
    training rows both models predicted out of fold (none when either lacks out-of-fold predictions)."""
    if not oof_a or not oof_b:
        return y_val, val_a, val_b, 0
    a = dict(zip(oof_a["ids"], oof_a["pred"], strict=True))
    b = dict(zip(oof_b["ids"], oof_b["pred"], strict=True))
    ids = [i for i in oof_a["ids"] if i in b and i in train_labels]
    y = np.concatenate([y_val, [train_labels[i] for i in ids]]).astype(int)
    return (
        y,
        np.concatenate([val_a, [a[i] for i in ids]]).astype(int),
        np.concatenate([val_b, [b[i] for i in ids]]).astype(int),
        len(ids),
    )


def macro_f1(y: np.ndarray, predicted: np.ndarray, k: int) -> float:
    return float(macro_f1_samples(y, predicted, k, None, present_labels(y, predicted, k))[0])


@dataclass
class Decision:
    ship_synthetic: bool
    gain: float
    lower_bound: float
    level: float
    cells: int
    reason: str
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ship_synthetic": self.ship_synthetic,
            "validation_gain": round(self.gain, 6),  # the verdict rounds these to 3 digits, as the reason does
            "lower_bound": round(self.lower_bound, 6),
            "level": round(self.level, 5),
            "cells": self.cells,
            "evidence_rows": self.rows,
            "reason": self.reason,
        }


def decide(
    y_val: np.ndarray,
    human_pred: np.ndarray,
    best_pred: np.ndarray | None,
    k: int,
    cells: int,
    margin: float = 0.0,
    confidence: float = 0.95,
    bootstrap: int = 2000,
    seed: int = 0,
) -> Decision:
    """Compare the best cell's held-out predictions with human-only's, paired over the same resamples."""
    if best_pred is None or cells == 0:
        return Decision(False, 0.0, 0.0, confidence, 0, "no augmented model was trained", len(y_val))
    present = present_labels(y_val, human_pred, k, best_pred)
    gain = float(
        macro_f1_samples(y_val, best_pred, k, None, present)[0] - macro_f1_samples(y_val, human_pred, k, None, present)[0]
    )
    index = np.random.default_rng(seed).integers(0, len(y_val), size=(bootstrap, len(y_val)))
    diffs = macro_f1_samples(y_val, best_pred, k, index, present) - macro_f1_samples(y_val, human_pred, k, index, present)
    level = 1.0 - (1.0 - confidence) / max(1, cells)
    lower = float(np.quantile(diffs, 1.0 - level))
    if lower > margin:
        reason = (
            f"the best augmented model beats human-only on held-out human rows by {gain:+.3f} macro-F1; the lower "
            f"{level:.1%} bound of the paired bootstrap gain ({lower:+.3f}, corrected for {cells} cells tried) exceeds {margin:g}"
        )
        return Decision(True, gain, lower, level, cells, reason, len(y_val))
    reason = (
        f"the best augmented model's held-out gain ({gain:+.3f} macro-F1) is not supported: the lower {level:.1%} bound "
        f"of the paired bootstrap gain is {lower:+.3f} (corrected for {cells} cells tried), not above {margin:g}"
    )
    return Decision(False, gain, lower, level, cells, reason, len(y_val))
