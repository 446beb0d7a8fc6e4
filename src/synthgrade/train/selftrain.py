"""Self-training: uncoded responses (``train --unlabeled POOL``, ``build --unlabeled POOL``) pseudo-labelled by
the human-only scorer.

The pseudo-labelled rows are flagged ``synthetic`` with provenance ``{"generator": "self-training", ...}``, so
every integrity rule treats them as non-human. In ``build`` they are one more synthetic set of the grid (set
name :data:`SELF_TRAINING`) that the ship rule judges like generated rows; in ``train``, :func:`self_train`
trains the same model on them and keeps it only where validation clearly prefers it. Three rules make them:

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
out-of-fold predictions would see each held-out row's label through them. A self-training cell of ``build``
therefore recomputes its out-of-fold predictions by cross-fitting (:func:`synthgrade.build.grid.cross_fitted_oof`):
per fold, the teacher is refitted without the fold, pseudo-labels the pool again, and the student fitted on the
rest predicts the fold. ``train`` has no grid: :func:`self_train` compares the two models on the validation rows
alone (paired bootstrap) and ships the self-trained one only when the whole 95 % interval of its macro-F1 gain
is above zero.
"""

from __future__ import annotations

from collections.abc import Callable
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
#: Pseudo-labelled rows per item at most, times the item's coded training rows (``build``'s ``pseudo_cap``).
DEFAULT_CAP = 2.0


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


def aligned_proba(scorer: Any, frame: pd.DataFrame, labels: list[str]) -> np.ndarray:
    """The scorer's probabilities for ``frame``, columns in the order of ``labels``."""
    proba = np.asarray(scorer.predict_proba(frame), dtype=np.float64)
    return proba[:, [scorer.labels.index(label) for label in labels]]


def pseudo_label(
    scorer: Any, pool: pd.DataFrame, train: pd.DataFrame, labels: list[str], threshold: float, cap: float
) -> pd.DataFrame:
    """The pool rows the scorer labels with top probability >= ``threshold``, at most ``cap`` x coded rows per item."""
    proba = aligned_proba(scorer, pool, labels) if len(pool) else np.zeros((0, len(labels)))
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


def self_train(
    fit: Callable[[str, pd.DataFrame], Any],
    spec: str,
    train: pd.DataFrame,
    val: pd.DataFrame,
    unlabeled: pd.DataFrame,
    labels: list[str],
    seed: int = 0,
    cap: float = DEFAULT_CAP,
) -> Any:
    """``train --unlabeled``: the human-only scorer, or the same model retrained with its confident pseudo-labels.

    ``fit(spec, rows)`` trains a scorer on ``rows`` (selecting on ``val``). The human-only model is ``fit(spec,
    train)``; when ``spec`` is ``auto``, the self-trained model repeats what auto chose. The record of the
    pool, threshold, rows and decision is attached as ``info.training["self_training"]`` of the returned model.
    """
    from synthgrade.data import label_indices
    from synthgrade.metrics import evaluate_predictions
    from synthgrade.mix import feasible_share, mix_training_set

    pool = prepare_pool(unlabeled, train, {"--val": val})
    human = fit(spec, train)
    y_val = label_indices(val, labels)
    human_proba = aligned_proba(human, val, labels)
    threshold, table = choose_threshold(human_proba, y_val)
    pseudo = pseudo_label(human, pool.frame, train, labels, threshold, cap)
    record: dict[str, Any] = {
        "usable_pool": len(pool.frame), "pool_left_out": pool.left_out, "threshold": threshold, "thresholds": table,
        "cap": cap, "rows": len(pseudo), "shipped": False,
    }  # fmt: skip
    if not len(pseudo):
        record["reason"] = f"no uncoded response reached the threshold ({len(pool.frame)} usable)"
        human.info.training["self_training"] = record
        return human
    chosen = (human.info.training.get("auto") or {}).get("chosen", spec) if spec == "auto" else spec
    # every pseudo-labelled row the label shares of the coded rows allow (the mixer follows those shares)
    share = feasible_share(train, pseudo, len(pseudo) / (len(train) + len(pseudo)), labels)
    mixed = mix_training_set(train, pseudo, ratio=share, seed=seed)
    student = fit(chosen, mixed.frame)
    student_proba = aligned_proba(student, val, labels)
    diff = evaluate_predictions(y_val, student_proba, labels, seed=seed, compare_proba=human_proba)["diff"]["macro_f1"]
    low = diff["ci_low"]
    record |= {
        "model": chosen, "pseudo_rows_used": int(mixed.manifest.get("synthetic_rows", 0)),
        "validation_gain": [round(float(v), 4) if v is not None else None for v in (diff["value"], low, diff["ci_high"])],
        "shipped": low is not None and low > 0,
    }  # fmt: skip
    record["reason"] = (
        "validation prefers the self-trained model (95 % interval of the macro-F1 gain above zero)"
        if record["shipped"]
        else "validation cannot tell the self-trained model apart from the human-only one, or prefers the latter"
    )
    winner = student if record["shipped"] else human
    winner.info.training["self_training"] = record
    return winner


def describe(record: dict[str, Any]) -> str:
    """One line for the console: what :func:`self_train` pseudo-labelled and which model it kept, and why."""
    left_out = ", ".join(f"{count} {why}" for why, count in record["pool_left_out"].items())
    gain = record.get("validation_gain")
    line = (
        f"self-training: {record['rows']:,} of {record['usable_pool']:,} usable uncoded responses pseudo-labelled "
        f"(threshold {record['threshold']:g}, chosen on the validation rows{'; left out: ' + left_out if left_out else ''})"
    )
    if gain and gain[1] is not None:
        line += f"; validation macro-F1 gain {gain[0]:+.4f} [95 % interval {gain[1]:+.4f}, {gain[2]:+.4f}]"
    kept = "self-trained model kept" if record["shipped"] else "human-only model kept"
    return f"{line}; {kept}: {record['reason']}"
