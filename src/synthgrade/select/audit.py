"""``find_suspects``: coded rows ranked by how likely their label is a coding error. Nothing is relabelled.

Each row is scored by the hybrid scorer's head fitted without it (k-fold, stratified by label), and cleanlab's
``find_label_issues`` flags the rows whose given label the out-of-fold probabilities contradict (confident
learning: per-label thresholds, so a scorer that is unsure everywhere flags little). The flagged rows come
first, in cleanlab's order (lowest probability of the given label first); the others follow in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from synthgrade.data import label_indices
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.select.core import coded_labels
from synthgrade.select.model import fit_guess_model

SUSPECT_COLUMNS = ("suspect_rank", "flagged", "model_label", "model_confidence", "given_label_confidence")


def out_of_fold_proba(coded: pd.DataFrame, labels: list[str], model: str, seed: int = 0) -> np.ndarray:
    """Probabilities for every coded row from the hybrid's head fitted without the row's fold.

    The hybrid is fitted once on all rows; its training features are already out-of-fold (the stacked lexical
    models) or leave-one-out (the neighbour similarities), so only the final logistic regression (at the C its
    own cross-validation chose) is refitted per fold (:func:`synthgrade.scorers.cv.out_of_fold_proba`): one fit
    of the whole scorer instead of one per fold.
    """
    from synthgrade.scorers import TrainingArguments, cv
    from synthgrade.scorers.fitting import prepare_inputs

    y = label_indices(coded, labels)
    counts = np.bincount(y, minlength=len(labels))
    present = counts[counts > 0]
    if len(present) < 2 or present.min() < 2:
        thin = [f"{labels[i]} ({counts[i]})" for i in range(len(labels)) if 0 < counts[i] < 2]
        raise SynthgradeError(
            "the audit needs at least two labels with 2 or more coded rows each"
            + (f"; too few rows of {', '.join(thin)}" if thin else "")
        )
    scorer = fit_guess_model(coded, labels, model, seed)
    args = TrainingArguments(model=model, seed=seed, labels=labels, show_progress=False)
    _, inputs, _, _ = prepare_inputs(coded, coded.iloc[:0], args, labels, "hybrid", model)
    seen, _ = scorer.features.matrices(scorer.features.blocks(*inputs["train"], training=True))
    # labels never coded get probability 0
    return cv.out_of_fold_proba(scorer.heads["seen"], seen, y, cv.splits(y, seed), len(labels))


def find_suspects(
    coded: pd.DataFrame,
    labels: list[str] | None = None,
    *,
    model: str = "hybrid:minilm-l6",
    seed: int = 0,
    proba: np.ndarray | None = None,
) -> pd.DataFrame:
    """Every coded row, most likely mislabelled first: the coded columns plus ``suspect_rank``, ``flagged`` (cleanlab
    finds a label issue), ``model_label``, ``model_confidence`` and ``given_label_confidence``.

    ``proba``: out-of-fold probabilities computed before (rows x labels, in ``labels`` order); fitted here when None.
    """
    from cleanlab.filter import find_label_issues

    if not len(coded):
        raise SynthgradeError("there are no coded rows to audit")
    labels = coded_labels(coded, labels)
    if model.startswith("tfidf"):
        raise ParameterError("model", "the audit refits the hybrid's head per fold; use hybrid:<encoder> here")
    y = label_indices(coded, labels)
    if proba is None:
        proba = out_of_fold_proba(coded, labels, model, seed)
    proba = np.clip(np.asarray(proba, dtype=float), 1e-6, None)
    proba = proba / proba.sum(axis=1, keepdims=True)
    given = proba[np.arange(len(y)), y]
    flagged_order = np.asarray(
        find_label_issues(labels=y, pred_probs=proba, return_indices_ranked_by="self_confidence"), dtype=np.int64
    )
    flagged = np.zeros(len(y), dtype=bool)
    flagged[flagged_order] = True
    rest = np.flatnonzero(~flagged)
    order = np.concatenate([flagged_order, rest[np.argsort(given[rest], kind="stable")]])
    out = coded.iloc[order].reset_index(drop=True)
    out["suspect_rank"] = np.arange(1, len(out) + 1)
    out["flagged"] = flagged[order]
    out["model_label"] = [labels[i] for i in proba[order].argmax(axis=1)]
    out["model_confidence"] = proba[order].max(axis=1).round(4)
    out["given_label_confidence"] = given[order].round(4)
    out.attrs["audit"] = {"rows": len(out), "flagged": int(flagged.sum()), "model": model, "labels": labels}
    return out


def precision_at_k(ranked_ids: Sequence[str], wrong_ids: Sequence[str], k: int | None = None) -> float:
    """Share of the first ``k`` (default: as many as there are wrong rows) ranked ids that are wrong."""
    wrong = set(map(str, wrong_ids))
    k = len(wrong) if k is None else k
    return float(np.mean([str(i) in wrong for i in list(ranked_ids)[:k]])) if k else float("nan")
