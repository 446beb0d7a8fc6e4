"""The train stage: ``Trainer(TrainingArguments(...)).train(train_df, val_df)`` fits any scorer kind.

The trainer takes exactly two tables: training rows and human-coded validation rows. It has no way to
receive test data, so test rows can never reach training, early stopping or checkpoint selection. It
checks the tables, settles the labels, lets ``auto`` choose among candidates, and hands every other spec
to the kind of :mod:`synthgrade.scorers.registry` that trains it, without naming any kind itself. With
uncoded rows (``unlabeled``) it self-trains (:func:`synthgrade.train.selftrain.self_train`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from synthgrade.data import is_synthetic
from synthgrade.errors import ParameterError
from synthgrade.modeling import Scorer
from synthgrade.scorers import TrainingArguments, kind_for
from synthgrade.train.auto import train_auto
from synthgrade.train.inputs import check_training_data, training_labels, training_provenance


class Trainer:
    """Fits a scorer: ``Trainer(args).train(train_df, val_df)`` returns a :class:`Scorer` of the kind ``args.model`` names."""

    def __init__(self, args: TrainingArguments | None = None) -> None:
        self.args = args or TrainingArguments()

    def train(
        self,
        train_df: pd.DataFrame,
        val_df: pd.DataFrame,
        provenance: dict[str, Any] | None = None,
        unlabeled: pd.DataFrame | None = None,
    ) -> Scorer:
        """Train on ``train_df``; early-stop, select and report on ``val_df`` (human-coded rows only).

        ``unlabeled``: uncoded responses for self-training; the model trained with their confident pseudo-labels
        is returned only where validation clearly prefers it (``info.training["self_training"]`` says why)."""
        args = self.args
        check_training_data(train_df, val_df)
        labels = training_labels(train_df, val_df, args.labels)
        if unlabeled is None:
            return self._fit(args.model, train_df, val_df, labels, provenance)
        if is_synthetic(train_df).any():
            raise ParameterError("unlabeled", "cannot be combined with synthetic training rows; build --unlabeled judges both")
        from synthgrade.train.selftrain import self_train

        def fit(spec: str, rows: pd.DataFrame) -> Scorer:
            return self._fit(spec, rows, val_df, labels, provenance)

        return self_train(fit, args.model, train_df, val_df, unlabeled, labels, args.seed)

    def _fit(
        self, spec: str, train_df: pd.DataFrame, val_df: pd.DataFrame, labels: list[str], provenance: dict[str, Any] | None
    ) -> Scorer:
        args = replace(self.args, model=spec)
        if spec == "auto":
            return train_auto(train_df, val_df, args, labels, provenance or {})
        return kind_for(spec).fit(train_df, val_df, args, labels, training_provenance(train_df, val_df, provenance))
