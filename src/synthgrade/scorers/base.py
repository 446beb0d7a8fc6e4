"""The protocol of the scorer family: every kind fits, scores, saves and loads through the same four methods.

``fit`` (a class method: rows in, fitted scorer out), ``predict_proba`` (from :class:`~synthgrade.modeling.Scorer`),
``save_pretrained`` and ``from_pretrained``. ``train`` fits any kind through :mod:`synthgrade.scorers.registry`
without naming it; ``load_scorer`` opens any saved one by the ``kind`` in its ``synthgrade.json``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import pandas as pd

from synthgrade.modeling import Scorer
from synthgrade.scorers.training_args import TrainingArguments

#: What a fitted scorer records about the rows it was fitted on (``info.provenance``); None records nothing.
Provenance = dict[str, Any] | None


class TrainableScorer(Scorer):
    """A scorer kind that ``train`` can fit.

    ``kind`` (from :class:`~synthgrade.modeling.Scorer`) is the name written to ``synthgrade.json``; :meth:`accepts` says which
    ``--model`` specs the kind trains (``tfidf``; ``hybrid`` and ``hybrid:<encoder>``; ...).
    """

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return spec == cls.kind

    @classmethod
    @abstractmethod
    def fit(
        cls, train_df: pd.DataFrame, val_df: pd.DataFrame, args: TrainingArguments, labels: list[str],
        provenance: Provenance = None,
    ) -> TrainableScorer:  # fmt: skip
        """Fit on ``train_df``; select and report on ``val_df`` (human-coded rows only, never test rows).

        The caller has checked the tables (:func:`synthgrade.train.inputs.check_training_data`); ``provenance``
        is recorded as it is in the fitted scorer's ``info.provenance``.
        """
