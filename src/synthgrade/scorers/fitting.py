"""What the kinds fitted without a training loop (``tfidf``, ``hybrid``) share: their inputs and out-of-fold record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.data import is_synthetic, label_indices
from synthgrade.errors import SynthgradeError
from synthgrade.modeling import ModelInfo, build_inputs, choose_input_mode, item_bank_from


def prepare_inputs(
    train_df: pd.DataFrame, val_df: pd.DataFrame, args: Any, labels: list[str], kind: str, base_model: str
) -> tuple[ModelInfo, dict[str, tuple[list[str], list[str] | None]], np.ndarray, np.ndarray]:
    """The metadata, model inputs and label indices that a scorer fitted without a training loop starts from."""
    info = ModelInfo(
        kind=kind,
        labels=labels,
        input_mode=choose_input_mode(args.input, train_df),
        max_length=args.max_length,
        item_bank=item_bank_from(pd.concat([train_df[~is_synthetic(train_df)], val_df], ignore_index=True)),
        base_model=base_model,
        ordinal=args.ordinal,
    )
    inputs = {}
    for name, frame in (("train", train_df), ("val", val_df)):
        first, second, problems = build_inputs(frame, info)
        if problems:
            raise SynthgradeError(problems[0], problems)
        inputs[name] = (first, second)
    return info, inputs, label_indices(train_df, labels), label_indices(val_df, labels)


def out_of_fold_record(train_df: pd.DataFrame, predicted: np.ndarray | None, rows: Any = None) -> dict[str, Any] | None:
    """The out-of-fold predictions of the human training rows, by id (label indices), or None without folds.

    ``build`` pools them with the validation rows to compare models on more human rows than validation holds.
    """
    if predicted is None:
        return None
    human = rows.human if rows is not None else np.ones(len(train_df), dtype=bool)
    ids = train_df["id"].astype(str).to_numpy() if "id" in train_df.columns else np.arange(len(train_df)).astype(str)
    return {"ids": ids[human].tolist(), "pred": np.asarray(predicted)[human].astype(int).tolist()}


def stratified_splits(y: np.ndarray, seed: int, rows: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to 5 stratified folds of the training rows (none when a label has fewer than 2 human rows).

    With synthetic ``rows`` (:class:`~synthgrade.mix.TrainingRows`), a human row and the rows rewritten from it
    share a fold, folds are stratified on the human rows, and a fold is scored on its human rows only.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    human = rows.human if rows is not None else np.ones(len(y), dtype=bool)
    counts = np.bincount(y[human])
    present = counts[counts > 0]
    folds = int(min(5, present.min())) if len(present) > 1 else 0
    if folds < 2:
        return []
    if rows is not None and rows.has_synthetic:
        splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        return [(a, b[human[b]]) for a, b in splitter.split(np.zeros(len(y)), y, groups=rows.source)]
    return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


@dataclass
class CrossValidatedChoice:
    """A classifier's settings chosen by cross-validated macro-F1 on the training rows, refitted on all of them.

    ``oof_pred`` / ``oof_proba``: every training row scored by a copy fitted without its fold, at the chosen
    settings (synthetic rows, never scored, keep 0); None when the rows are too few for folds.
    """

    model: Any
    best: dict[str, Any]
    score: float | None
    curve: list[dict[str, Any]]
    oof_pred: np.ndarray | None
    oof_proba: np.ndarray | None


def cross_validated_choice(
    estimator: Any, grid: dict[str, Sequence[Any]], matrix: Any, y: np.ndarray, seed: int, rows: Any, num_labels: int
) -> CrossValidatedChoice:
    """``GridSearchCV`` (macro-F1 over :func:`stratified_splits`) on the training rows, then out-of-fold
    probabilities at the chosen settings. With too few rows for folds, the middle value of each setting's grid
    is used, without a score."""
    from sklearn.base import clone
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GridSearchCV

    splits = stratified_splits(y, seed, rows)
    weighted = rows is not None and rows.has_synthetic
    options = {"sample_weight": rows.weight} if weighted else {}
    if not splits:
        best = {name: values[len(values) // 2] for name, values in grid.items()}
        return CrossValidatedChoice(clone(estimator).set_params(**best).fit(matrix, y, **options), best, None, [], None, None)
    search = GridSearchCV(estimator, {k: list(v) for k, v in grid.items()}, scoring="f1_macro", cv=splits, refit=True)
    search.fit(matrix, y, **options)
    curve = [
        {**params, "cv_macro_f1": round(float(score), 4)}
        for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True)
    ]
    proba = np.zeros((len(y), num_labels))
    for train_index, test_index in splits:
        fold_options = {"sample_weight": rows.weight[train_index]} if weighted else {}
        model = clone(search.best_estimator_).fit(matrix[train_index], y[train_index], **fold_options)
        proba[np.ix_(test_index, model.classes_)] = model.predict_proba(matrix[test_index])
    scored = np.zeros(len(y), dtype=bool)
    for _, test_index in splits:
        scored[test_index] = True
    predicted = proba.argmax(axis=1)
    score = float(f1_score(y[scored], predicted[scored], average="macro"))
    return CrossValidatedChoice(search.best_estimator_, dict(search.best_params_), score, curve, predicted, proba)
