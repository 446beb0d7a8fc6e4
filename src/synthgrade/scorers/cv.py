"""Cross-validation on the training rows, one way for every kind fitted without a training loop.

Folds come from scikit-learn's splitters, settings are chosen by ``GridSearchCV`` with ``scoring="f1_macro"``,
and out-of-fold probabilities are the same loop for everyone. Validation rows never enter here: ``auto`` compares
candidates on them, so no candidate may have been tuned on them.

Two rules hold for every split:

* **fold count**: up to 5 folds, never more than the rarest label has (human) rows; none below 2;
* **synthetic rows** (:class:`~synthgrade.mix.TrainingRows` with rewrites): a human response and the rows
  rewritten from it share a fold, folds are stratified on the human rows, a synthetic row only ever trains
  (with its sample weight), and a fold is scored on its human rows alone.

With ``groups`` (item ids) and at least 5 items, folds hold whole items (``GroupKFold``) when every fold's
training part keeps every label: the score then says how the model does on items it never saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthgrade.mix import TrainingRows

#: Most folds of any split (fewer when the rarest label has fewer rows).
MAX_FOLDS = 5
Splits = list[tuple[np.ndarray, np.ndarray]]


def synthetic_rows(rows: TrainingRows | None) -> TrainingRows | None:
    """``rows`` when it holds synthetic rows, else None (all-human tables need no grouping or weights)."""
    return rows if rows is not None and rows.has_synthetic else None


def fold_count(y: np.ndarray) -> int:
    """Folds for labels ``y``: up to :data:`MAX_FOLDS`, at most the rarest present label's count, 0 for one label."""
    counts = np.bincount(np.asarray(y, dtype=np.int64))
    present = counts[counts > 0]
    return int(min(MAX_FOLDS, present.min())) if len(present) > 1 else 0


def splits(y: np.ndarray, seed: int, groups: Sequence[str] | None = None, rows: TrainingRows | None = None) -> Splits:
    """(train, test) index pairs over the training rows (an empty list when they are too few for folds)."""
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold

    y = np.asarray(y)
    rows = synthetic_rows(rows)
    if groups is not None and len(set(groups)) >= MAX_FOLDS:
        grouped = list(GroupKFold(MAX_FOLDS).split(np.zeros(len(y)), y, groups=list(groups)))
        if all(len(np.unique(y[train])) == len(np.unique(y)) for train, _ in grouped):
            return grouped if rows is None else [(train, test[rows.human[test]]) for train, test in grouped]
    if rows is not None:
        folds = fold_count(y[rows.human])
        if folds < 2:
            return []
        splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        return [(train, test[rows.human[test]]) for train, test in splitter.split(np.zeros(len(y)), y, groups=rows.source)]
    folds = fold_count(y)
    if folds < 2:
        return []
    return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def fit_rows(model: Any, matrix: Any, y: np.ndarray, index: np.ndarray | None = None, rows: TrainingRows | None = None) -> Any:
    """``model.fit`` on the rows ``index`` (all when None), with sample weights when there are synthetic rows."""
    index = np.arange(len(y)) if index is None else index
    rows = synthetic_rows(rows)
    if rows is None:
        return model.fit(matrix[index], y[index])
    return model.fit(matrix[index], y[index], sample_weight=rows.weight[index])


def label_proba(classifier: Any, matrix: Any, num_labels: int) -> np.ndarray:
    """``predict_proba`` over all ``num_labels`` labels: a label absent from the classifier's training gets 0."""
    out = np.zeros((matrix.shape[0], num_labels))
    if matrix.shape[0]:
        out[:, classifier.classes_] = classifier.predict_proba(matrix)
    return out


def out_of_fold_proba(
    model: Any, matrix: Any, y: np.ndarray, folds: Splits, num_labels: int, rows: TrainingRows | None = None
) -> np.ndarray:
    """Each training row scored by a copy of ``model`` fitted without its fold.

    With synthetic ``rows``, a synthetic row is scored by the fold model that did not train on its source group
    (so stacked features of synthetic rows are out-of-fold too). Without folds, ``model`` (fitted) scores in-sample.
    """
    from sklearn.base import clone

    rows = synthetic_rows(rows)
    if not folds:
        return label_proba(model, matrix, num_labels)
    out = np.zeros((len(y), num_labels))
    for train, test in folds:
        fold_model = fit_rows(clone(model), matrix, y, train, rows)
        if rows is not None:  # synthetic rows outside this fold's training part: score them here
            outside = np.setdiff1d(np.arange(len(y)), train)
            test = np.union1d(test, outside[~rows.human[outside]])
        out[test] = label_proba(fold_model, matrix[test], num_labels)
    return out


def out_of_fold_log_proba(
    model: Any, matrix: Any, y: np.ndarray, folds: Splits, num_labels: int, rows: TrainingRows | None = None
) -> np.ndarray:
    """Clipped log of :func:`out_of_fold_proba` (a feature another model stacks on)."""
    return np.log(np.clip(out_of_fold_proba(model, matrix, y, folds, num_labels, rows), 1e-4, 1.0))


@dataclass
class CrossValidatedChoice:
    """A classifier's settings chosen by cross-validated macro-F1 on the training rows, refitted on all of them.

    ``score``: macro-F1 of the out-of-fold predictions at the chosen settings (None without folds).
    ``oof_pred`` / ``oof_proba``: every training row scored by a copy fitted without its fold, at the chosen
    settings (None without folds, or when not asked for).
    """

    model: Any
    best: dict[str, Any]
    score: float | None
    curve: list[dict[str, Any]]
    oof_pred: np.ndarray | None
    oof_proba: np.ndarray | None


def cross_validated_choice(
    estimator: Any,
    grid: dict[str, Sequence[Any]],
    matrix: Any,
    y: np.ndarray,
    seed: int,
    rows: TrainingRows | None,
    num_labels: int,
    groups: Sequence[str] | None = None,
    out_of_fold: bool = True,
) -> CrossValidatedChoice:
    """``GridSearchCV`` (macro-F1 over :func:`splits`) on the training rows, refitted on all of them.

    A grid of one setting is fitted without a search. Without folds, the middle value of each setting's grid
    is used, without a score. With ``out_of_fold``, the rows are also scored out of fold at the chosen settings.
    """
    from sklearn.base import clone
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GridSearchCV

    y = np.asarray(y)
    rows = synthetic_rows(rows)
    folds = splits(y, seed, groups, rows)
    options = {"sample_weight": rows.weight} if rows is not None else {}
    curve: list[dict[str, Any]] = []
    if folds and any(len(values) > 1 for values in grid.values()):
        search = GridSearchCV(estimator, {k: list(v) for k, v in grid.items()}, scoring="f1_macro", cv=folds, refit=True)
        search.fit(matrix, y, **options)
        model, best = search.best_estimator_, dict(search.best_params_)
        curve = [
            {**params, "cv_macro_f1": round(float(score), 4)}
            for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True)
        ]
    else:
        best = {name: values[len(values) // 2] for name, values in grid.items()}
        model = fit_rows(clone(estimator).set_params(**best), matrix, y, rows=rows)
    if not folds or not out_of_fold:
        return CrossValidatedChoice(model, best, None, curve, None, None)
    proba = out_of_fold_proba(model, matrix, y, folds, num_labels, rows)
    scored = np.zeros(len(y), dtype=bool)
    for _, test in folds:
        scored[test] = True
    predicted = proba.argmax(axis=1)
    score = float(f1_score(y[scored], predicted[scored], average="macro"))
    return CrossValidatedChoice(model, best, score, curve, predicted, proba)
