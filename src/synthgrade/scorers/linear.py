"""The kinds that are fitted features plus one logistic regression (``tfidf``, ``lexical``).

They score, save and load the same way, and choose C by cross-validation on the training rows the same way;
a subclass names its features class, its two files and its estimator.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from synthgrade.errors import SynthgradeError
from synthgrade.io import read_json, write_json
from synthgrade.modeling import METADATA_FILE, ModelInfo
from synthgrade.scorers.base import Provenance, TrainableScorer
from synthgrade.scorers.cv import cross_validated_choice, label_proba
from synthgrade.scorers.fitting import logistic_arrays, logistic_from_arrays, out_of_fold_record, prepare_inputs
from synthgrade.scorers.training_args import TrainingArguments


class LinearScorer(TrainableScorer):
    """Features (``features_class``: ``fit`` / ``transform`` / ``state`` / ``from_state``) + a logistic regression."""

    #: Builds the features: ``features_class(pair)``; saved as JSON in ``state_file``.
    features_class: ClassVar[Any]
    state_file: ClassVar[str]
    #: The logistic regression's arrays (``np.savez``, no pickle).
    weights_file: ClassVar[str]
    #: The settings cross-validation chooses among.
    grid: ClassVar[dict[str, Sequence[Any]]]

    def __init__(self, features: Any, classifier: Any, info: ModelInfo) -> None:
        self.features = features
        self.classifier = classifier
        self.info = info
        #: Out-of-fold probabilities of the training rows (set by ``fit``, never saved): ``auto`` weighs ensembles on them.
        self.oof_proba: np.ndarray | None = None

    @classmethod
    @abstractmethod
    def estimator(cls, args: TrainingArguments) -> Any:
        """The logistic regression to fit (its C is chosen from :attr:`grid`)."""

    def predict_proba_inputs(self, first: Sequence[str], second: Sequence[str] | None, batch_size: int = 64) -> np.ndarray:
        if not len(first):  # the vectorizers refuse an empty batch
            return np.zeros((0, len(self.labels)))
        return label_proba(self.classifier, self.features.transform(first, second), len(self.labels))

    def save_weights(self, directory: Path) -> None:
        write_json(directory / self.state_file, self.features.state())
        np.savez(directory / self.weights_file, **logistic_arrays(self.classifier))

    @classmethod
    def load_weights(cls, directory: Path, info: ModelInfo) -> LinearScorer:
        features = cls.features_class.from_state(read_json(directory / cls.state_file))
        with np.load(directory / cls.weights_file, allow_pickle=False) as data:
            classifier = logistic_from_arrays(data)
        classes = classifier.classes_
        if classes.size and (int(classes.max()) >= len(info.labels) or int(classes.min()) < 0):
            raise SynthgradeError(
                f"{directory}: damaged {cls.kind} model: its weights have classes up to {int(classes.max())} but "
                f"{METADATA_FILE} lists {len(info.labels)} labels"
            )
        return cls(features, classifier, info)

    @classmethod
    def fit(
        cls, train_df: pd.DataFrame, val_df: pd.DataFrame, args: TrainingArguments, labels: list[str],
        provenance: Provenance = None,
    ) -> LinearScorer:  # fmt: skip
        """Features fitted on ``train_df``, the estimator's settings chosen by cross-validation there
        (:func:`~synthgrade.scorers.cv.cross_validated_choice`); ``val_df`` (human rows) is only reported, so
        ``auto`` compares kinds on rows none of them was tuned on."""
        from synthgrade.metrics import point_metrics
        from synthgrade.mix import training_rows

        started = time.perf_counter()
        info, inputs, y_train, y_val = prepare_inputs(train_df, val_df, args, labels, cls.kind, cls.kind)
        features = cls.features_class(info.input_mode == "pair").fit(*inputs["train"])
        matrix = features.transform(*inputs["train"])
        rows = training_rows(train_df, args.synthetic_weight)
        choice = cross_validated_choice(cls.estimator(args), cls.grid, matrix, y_train, args.seed, rows, len(labels))
        scorer = cls(features, choice.model, info)
        scorer.oof_proba = choice.oof_proba
        proba = scorer.predict_proba_inputs(*inputs["val"])
        info.parameters = int(choice.model.coef_.size + choice.model.intercept_.size)
        info.training = {
            "arguments": args.to_dict(),
            "curve": choice.curve,
            "best": choice.best,
            "cv_macro_f1": choice.score,
            "oof": out_of_fold_record(train_df, choice.oof_pred, rows),
            "validation": point_metrics(y_val, proba, labels, ordinal=info.ordinal),
            "elapsed_s": round(time.perf_counter() - started, 2),
        }
        info.provenance = provenance or {}
        return scorer
