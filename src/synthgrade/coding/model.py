"""The model in the loop, in one place: the cheap scorer that suggests labels and estimates quality so far,
the ``select`` stage that picks the next responses, and the audit that lists likely miscodings.

Everything here runs in a worker process (:mod:`synthgrade.coding.trainer`), never in a page request.
The cheap scorer is the ``tfidf`` kind's features with a logistic regression: it refits in well under a
second on a few hundred rows, so it can follow every few labels. Its cross-validated macro-F1 (out-of-fold
predictions on the coded rows, a bootstrap interval from :mod:`synthgrade.metrics`) is what the panel
shows: every row is scored by a model that never saw it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.metrics import evaluate_predictions
from synthgrade.models import DEFAULT_ENCODER
from synthgrade.scorers import cv
from synthgrade.scorers.tfidf import TfidfFeatures

#: Most responses ranked by ``select`` per round (the page needs the next few, not the whole pool).
DEFAULT_QUEUE_SIZE = 200
SUSPECT_LIMIT = 100


@dataclass
class ModelRound:
    """What one retraining produced, ready to store."""

    n: int
    curve: dict[str, float | None] | None
    suggestions: list[tuple[str, str, float]]
    queue: list[tuple[str, int, str]]
    suspects: list[tuple[str, int, str, str, float, float]] | None
    selector: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _has_items(frame: pd.DataFrame) -> bool:
    return "item_id" in frame.columns and frame["item_id"].notna().any()


def _contexts(frame: pd.DataFrame) -> list[str]:
    """What the response answers: item id, else item text or reference (the tfidf scorer's pair input)."""
    parts = [frame[c].fillna("").astype(str) for c in ("item_id", "item_text", "reference") if c in frame.columns]
    return [" ".join(values).strip() for values in zip(*parts, strict=True)] if parts else [""] * len(frame)


class CheapScorer:
    """TF-IDF features of (item, response) + logistic regression; probabilities over every label, in order."""

    def __init__(self, labels: Sequence[str], pair: bool, seed: int = 0) -> None:
        self.labels = list(labels)
        self.pair = pair
        self.seed = seed

    def fit(self, frame: pd.DataFrame) -> CheapScorer:
        from sklearn.linear_model import LogisticRegression

        self.features = TfidfFeatures(self.pair)
        contexts = _contexts(frame) if self.pair else None
        self.features.fit(contexts if self.pair else list(frame["text"]), list(frame["text"]) if self.pair else None)
        y = np.array([self.labels.index(label) for label in frame["label"]])
        self.present = np.unique(y)
        if len(self.present) == 1:
            self.model = None
        else:
            self.model = LogisticRegression(C=3.0, max_iter=2000, class_weight="balanced", random_state=self.seed)
            self.model.fit(self._matrix(frame), y)
        return self

    def _matrix(self, frame: pd.DataFrame) -> Any:
        if self.pair:
            return self.features.transform(_contexts(frame), list(frame["text"]))
        return self.features.transform(list(frame["text"]), None)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        proba = np.zeros((len(frame), len(self.labels)))
        if not len(frame):
            return proba
        if self.model is None:
            proba[:, self.present[0]] = 1.0
            return proba
        return cv.label_proba(self.model, self._matrix(frame), len(self.labels))


def out_of_fold_proba(coded: pd.DataFrame, labels: Sequence[str], seed: int = 0) -> np.ndarray:
    """Each coded row's probabilities from a scorer fitted on the other folds (stratified where every label allows)."""
    from sklearn.model_selection import KFold

    y = np.array([list(labels).index(label) for label in coded["label"]])
    # a label coded once cannot be stratified: plain folds then, so every row still gets an out-of-fold score
    splits = cv.splits(y, seed) or list(KFold(min(cv.MAX_FOLDS, len(coded)), shuffle=True, random_state=seed).split(y))
    proba = np.zeros((len(coded), len(labels)))
    pair = _has_items(coded)
    for train_index, test_index in splits:
        scorer = CheapScorer(labels, pair, seed).fit(coded.iloc[train_index])
        proba[test_index] = scorer.predict_proba(coded.iloc[test_index])
    return proba


def suspects_from_proba(
    coded: pd.DataFrame, proba: np.ndarray, labels: Sequence[str]
) -> list[tuple[str, int, str, str, float, float]]:
    """The rows the audit (``select.audit.find_suspects``, cleanlab) flags, given out-of-fold probabilities."""
    from synthgrade.select.audit import find_suspects

    return _flagged(find_suspects(coded, list(labels), proba=proba))


def _flagged(found: pd.DataFrame) -> list[tuple[str, int, str, str, float, float]]:
    flagged = found[found["flagged"]].sort_values("suspect_rank").head(SUSPECT_LIMIT)
    return [
        (str(r.id), rank, str(r.label), str(r.model_label), float(r.model_confidence), float(r.given_label_confidence))
        for rank, r in enumerate(flagged.itertuples(index=False))
    ]


def _select(
    uncoded: pd.DataFrame, coded: pd.DataFrame, labels: Sequence[str], strategy: str | None, encoder: str, seed: int, n: int
) -> tuple[list[tuple[str, int, str]], str, dict[str, tuple[str, float]]]:
    """The next responses by the ``select`` stage's strategy (its default unless one is named), and select's
    guess for each (empty at cold start, before select fits its model)."""
    from synthgrade.select import DEFAULT_STRATEGY, select_rows
    from synthgrade.select.pool import candidate_rows

    chosen = strategy or DEFAULT_STRATEGY
    n = min(n, len(candidate_rows(uncoded, coded).frame))  # select sets repeated texts aside
    ranked = select_rows(uncoded, coded, n, labels=list(labels), strategy=chosen, encoder=encoder, seed=seed)
    queue = [(str(r.id), int(r.rank), str(r.reason)) for r in ranked[["id", "rank", "reason"]].itertuples(index=False)]
    guesses = {
        str(r.id): (str(r.guess), float(r.guess_confidence))
        for r in ranked[["id", "guess", "guess_confidence"]].itertuples(index=False)
        if isinstance(r.guess, str) and r.guess in labels and pd.notna(r.guess_confidence)
    }
    return queue, f"select ({chosen})", guesses


def least_sure_queue(uncoded: pd.DataFrame, proba: np.ndarray, n: int) -> list[tuple[str, int, str]]:
    """Uncertainty order from the cheap scorer: the fallback when ``select`` fails (the panel says why)."""
    top = proba.max(axis=1) if len(proba) else np.zeros(0)
    order = np.argsort(top, kind="stable")[:n]
    return [
        (str(uncoded["id"].iloc[i]), rank, f"the model is least sure here (top probability {top[i]:.2f})")
        for rank, i in enumerate(order)
    ]


def fit_round(
    coded: pd.DataFrame,
    uncoded: pd.DataFrame,
    labels: Sequence[str],
    *,
    strategy: str | None = None,
    encoder: str = DEFAULT_ENCODER,
    seed: int = 0,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    bootstrap: int = 500,
) -> ModelRound:
    """One retraining: cross-validated quality (the cheap scorer's), suggestions for the uncoded rows (select's
    guess where it ranked the row, else the cheap scorer's), the next queue, suspects."""
    started = time.perf_counter()
    labels = list(labels)
    coded = coded.reset_index(drop=True)
    oof = out_of_fold_proba(coded, labels, seed)
    y = np.array([labels.index(label) for label in coded["label"]])
    curve = evaluate_predictions(y, oof, labels, bootstrap=bootstrap, seed=seed)["macro_f1"]
    scorer = CheapScorer(labels, _has_items(coded), seed).fit(coded)
    proba = scorer.predict_proba(uncoded)
    suggestions = [(str(row_id), labels[int(p.argmax())], float(p.max())) for row_id, p in zip(uncoded["id"], proba, strict=True)]
    notes: list[str] = []
    selected = None
    if len(uncoded):
        try:
            selected = _select(uncoded, coded, labels, strategy, encoder, seed, queue_size)
        except Exception as exc:  # the page keeps working on the cheap scorer's order; the panel says why
            notes.append(f"select failed ({type(exc).__name__}: {exc}); using the suggestion model's uncertainty")
    queue, selector, guesses = selected if selected else (least_sure_queue(uncoded, proba, queue_size), "least-sure (tfidf)", {})
    # Where select picked a response, its guess is the suggestion: the page then explains the pick and the
    # suggestion with one model. Elsewhere the cheap scorer suggests.
    suggestions = [(row_id, *guesses[row_id]) if row_id in guesses else (row_id, label, p) for row_id, label, p in suggestions]
    try:
        suspects = suspects_from_proba(coded, oof, labels)
    except Exception as exc:  # the suspects wait for the next round; coding goes on
        suspects = None
        notes.append(f"the audit failed ({type(exc).__name__}: {exc})")
    return ModelRound(
        n=len(coded),
        curve=curve,
        suggestions=suggestions,
        queue=queue,
        suspects=suspects,
        selector=selector,
        seconds=time.perf_counter() - started,
        notes=notes,
    )


def audit(coded: pd.DataFrame, labels: Sequence[str], model: str, seed: int = 0) -> list[tuple[str, int, str, str, float, float]]:
    """The full audit: ``select.audit.find_suspects`` fitting ``model`` out of fold (slower than the rounds' tfidf)."""
    from synthgrade.select.audit import find_suspects

    return _flagged(find_suspects(coded.reset_index(drop=True), list(labels), model=model, seed=seed))
