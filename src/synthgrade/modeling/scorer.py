"""The scoring interface every saved model offers, and its save/load template."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from synthgrade.data.schema import refuse_rows
from synthgrade.modeling.info import MODEL_FILE_ERRORS, ModelInfo, reading_model_files
from synthgrade.modeling.inputs import build_inputs


class Scorer(ABC):
    """The scoring interface every saved model offers (scikit-learn style, over response tables)."""

    info: ModelInfo
    #: The name written to ``synthgrade.json``; it picks the class in :data:`SCORER_KINDS` when loading.
    kind: ClassVar[str]
    #: What reading this kind's own files raises when one is missing or damaged (:func:`reading_model_files`).
    file_errors: ClassVar[tuple[type[Exception], ...]] = MODEL_FILE_ERRORS

    @property
    def labels(self) -> list[str]:
        return list(self.info.labels)

    @abstractmethod
    def predict_proba_inputs(self, first: Sequence[str], second: Sequence[str] | None, batch_size: int = 64) -> np.ndarray:
        """Probabilities (rows x labels, in ``labels`` order) for already-built inputs."""

    def check_scorable(self, frame: pd.DataFrame) -> tuple[list[str], list[str] | None]:
        first, second, problems = build_inputs(frame, self.info)
        refuse_rows(problems)
        return first, second

    def predict_proba(self, frame: pd.DataFrame, batch_size: int = 64) -> np.ndarray:
        first, second = self.check_scorable(frame)
        if not first:
            return np.zeros((0, len(self.labels)))
        return self.predict_proba_inputs(first, second, batch_size)

    def predict(self, frame: pd.DataFrame, batch_size: int = 64) -> np.ndarray:
        proba = self.predict_proba(frame, batch_size)
        return np.asarray(self.labels, dtype=object)[proba.argmax(axis=1)] if len(proba) else np.array([], dtype=object)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write this kind's files and ``synthgrade.json`` (with ``kind``) to ``directory``; ``self.info`` is unchanged.

        The template every kind shares: the base class owns the folder and the metadata, a kind writes only
        its own files (:meth:`save_weights`), so no kind can forget the kind name or the model card.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.save_weights(directory)
        self.info.model_copy(update={"kind": self.kind}).save(directory)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> Scorer:
        """Load a directory written by :meth:`save_pretrained`: a damaged file is one clear error, never a traceback."""
        directory = Path(directory)
        info = ModelInfo.load(directory)
        with reading_model_files(directory, cls.kind, cls.file_errors):
            return cls.load_weights(directory, info)

    @abstractmethod
    def save_weights(self, directory: Path) -> None:
        """Write this kind's own files (weights, vocabulary, settings) into the existing ``directory``."""

    @classmethod
    @abstractmethod
    def load_weights(cls, directory: Path, info: ModelInfo) -> Scorer:
        """Read back what :meth:`save_weights` wrote; ``info`` is the directory's ``synthgrade.json``."""
