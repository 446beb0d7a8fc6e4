"""Self-training: uncoded responses (``build --unlabeled POOL``) pseudo-labelled by the human-only scorer.

The pseudo-labelled rows are one more synthetic set of the grid (set name :data:`SELF_TRAINING`), flagged
``synthetic`` with provenance ``{"generator": "self-training", ...}``, so every integrity rule treats them as
non-human and the ship rule judges them like generated rows. Three rules make them:

* **the pool**: rows already coded (same id or text as a training row) are left out, counted; a pool that
  repeats more validation or test texts than natural repeats explain is refused (``data.check_disjoint``),
  and the remaining exact repeats of a validation or test text are left out, counted.
* **the threshold** (:func:`choose_threshold`), chosen on the validation rows only: among
  :data:`THRESHOLDS`, the one whose confident validation predictions (top probability >= threshold) the
  human-only scorer gets right most often, ties to the lower threshold (more rows); a threshold with fewer
  than :data:`MIN_CONFIDENT` confident validation rows does not count. Test rows are never read.
* **the cap** (:func:`pseudo_label`): per item, at most ``cap`` times the item's coded training rows, the
  most confident first; a pool row of an item with no coded row gets no pseudo-label.

The pseudo-labels come from a scorer fitted on every training row, so the augmented model's own
out-of-fold predictions would see each held-out row's label through them. A self-training cell therefore
recomputes its out-of-fold predictions by cross-fitting (:func:`synthgrade.build.grid.cross_fitted_oof`): per fold, the teacher is
refitted without the fold, pseudo-labels the pool again, and the student fitted on the rest predicts the fold.
The decision then pools the same kind of evidence as for every other cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.data import check_disjoint, is_synthetic
from synthgrade.data.integrity import normalised_text
from synthgrade.data.schema import ID, ITEM_ID, LABEL, TEXT

#: The synthetic set (and grid cells) of pseudo-labelled rows.
SELF_TRAINING = "self-training"
#: Thresholds on the human-only scorer's top probability the validation rows choose from.
THRESHOLDS = (0.6, 0.7, 0.8, 0.9)
#: Confident validation rows a threshold needs before its precision counts.
MIN_CONFIDENT = 3
#: Prefix of pool row ids (a pool's ids must not collide with the coded rows' ids).
POOL_ID = "pool:"


@dataclass
class Pool:
    """The usable uncoded rows and the count left out, by reason."""

    frame: pd.DataFrame
    left_out: dict[str, int] = field(default_factory=dict)


def _items(frame: pd.DataFrame) -> pd.Series:
    if ITEM_ID in frame.columns:
        return frame[ITEM_ID].astype(object).where(frame[ITEM_ID].notna(), "").astype(str)
    return pd.Series("", index=frame.index)


def prepare_pool(pool: pd.DataFrame, train: pd.DataFrame, held_out: dict[str, pd.DataFrame]) -> Pool:
    """The pool without labels, coded rows and repeats of held-out texts; refuses a pool that leaks held-out rows.

    An empty result is no error (every response may be coded): the self-training set is then empty, with why."""
    left_out: dict[str, int] = {}
    flagged = is_synthetic(pool)
    if flagged.any():
        left_out["synthetic rows"] = int(flagged.sum())
        pool = pool.loc[~flagged]
    coded_texts = {normalised_text(t) for t in train[TEXT]}
    keys = pool[TEXT].map(normalised_text)
    coded = pool[ID].astype(str).isin(set(train[ID].astype(str))) | keys.isin(coded_texts)
    left_out["already coded"] = int(coded.sum())
    pool, keys = pool.loc[~coded], keys.loc[~coded]
    for name, frame in held_out.items():
        # the project's one leakage guard, on texts (pool ids are renamed below, so a shared id is no leak)
        check_disjoint(pool.drop(columns=[ID]), frame, names=("--unlabeled", name))
        repeats = keys.isin({normalised_text(t) for t in frame[TEXT]})
        left_out[f"repeats a {name} text"] = int(repeats.sum())
        pool, keys = pool.loc[~repeats], keys.loc[~repeats]
    pool = pool.drop(columns=[LABEL, "synthetic"], errors="ignore").reset_index(drop=True)
    pool[ID] = POOL_ID + pool[ID].astype(str)
    return Pool(pool, {why: count for why, count in left_out.items() if count})


def choose_threshold(val_proba: np.ndarray, y_val: np.ndarray) -> tuple[float, dict[str, Any]]:
    """The threshold (see the module docstring) and each candidate's validation precision and rows."""
    top, right = val_proba.max(axis=1), val_proba.argmax(axis=1) == y_val
    table: dict[str, Any] = {}
    best: tuple[float, float] | None = None
    for threshold in THRESHOLDS:
        confident = top >= threshold
        rows = int(confident.sum())
        precision = float(right[confident].mean()) if rows else None
        table[f"{threshold:g}"] = {"rows": rows, "precision": None if precision is None else round(precision, 4)}
        if precision is not None and rows >= MIN_CONFIDENT and (best is None or precision > best[1]):
            best = (threshold, precision)
    return (best[0] if best else max(THRESHOLDS)), table


def pseudo_label(
    scorer: Any, pool: pd.DataFrame, train: pd.DataFrame, labels: list[str], threshold: float, cap: float
) -> pd.DataFrame:
    """The pool rows the scorer labels with top probability >= ``threshold``, at most ``cap`` x coded rows per item."""
    proba = np.zeros((0, len(labels)))
    if len(pool):  # columns in the order of ``labels``
        proba = np.asarray(scorer.predict_proba(pool), dtype=np.float64)[:, [scorer.labels.index(x) for x in labels]]
    top = proba.max(axis=1) if len(pool) else np.zeros(0)
    frame = pool.assign(
        **{LABEL: [labels[i] for i in proba.argmax(axis=1)], "pseudo_confidence": np.round(top, 4), "_item": _items(pool)}
    )
    frame = frame.loc[top >= threshold]
    coded = _items(train).value_counts()
    allowed = np.array([int(coded.get(item, 0) * cap) for item in frame["_item"]], dtype=np.int64)
    rank = frame.sort_values("pseudo_confidence", ascending=False, kind="stable").groupby("_item").cumcount()
    frame = frame.loc[rank.reindex(frame.index).to_numpy(dtype=np.int64) < allowed].drop(columns=["_item"])
    frame = frame.assign(
        id="pseudo-" + frame[ID].astype(str).str.removeprefix(POOL_ID),
        source_id=frame[ID],
        synthetic=True,
        generator=SELF_TRAINING,
        backend=SELF_TRAINING,
        model=getattr(getattr(scorer, "info", None), "kind", None),
        strategy=SELF_TRAINING,
        threshold=threshold,
    )
    return frame.reset_index(drop=True)
