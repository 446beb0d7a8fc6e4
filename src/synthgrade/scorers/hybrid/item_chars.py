"""The per-item character n-gram model the hybrid's seen head stacks (see :mod:`synthgrade.scorers.hybrid`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthgrade.mix import TrainingRows
from synthgrade.scorers import cv
from synthgrade.scorers.hybrid.spec import log_proba, logistic

#: The per-item character model is sparse and item-specific: it wants little regularisation. Cross-validation on
#: the training rows of the three all-rows SciEntsBank draws chose C = 30 each time (from 1-300 on two, 0.3-30 on
#: one; benchmarks/scoring/probe_hybrid_seen.py), so it is fixed: one fit instead of a grid (large C fits slowly).
ITEM_C_GRID = (30.0,)


class ItemCharModel:
    """Per-item character n-grams: a response's char 2-5-gram TF-IDF vector placed in its item's column block.

    One logistic regression learns, per item, which spellings its graders rewarded; a response to an item
    without training rows gets an all-zero row (the intercept only). Stored sparsely: the char vocabulary
    (JSON) and only the weights of (item, n-gram) columns that occur in the training rows (the others are 0).
    """

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
        self.items: dict[str, int] = {}
        self.model: Any = None
        self.curve: list[dict] = []

    def matrix(self, responses: Sequence[str], items: Sequence[str]) -> Any:
        from scipy.sparse import csr_matrix

        chars = self.chars.transform(responses).tocsr()
        width = len(self.chars.vocabulary_)
        offsets = np.array([self.items.get(key, -1) for key in items], dtype=np.int64)
        known = np.repeat(offsets >= 0, np.diff(chars.indptr))
        data = np.where(known, chars.data, 0.0)
        columns = chars.indices + np.repeat(np.maximum(offsets, 0), np.diff(chars.indptr)) * width
        out = csr_matrix((data, columns, chars.indptr), shape=(len(items), width * max(1, len(self.items))))
        out.eliminate_zeros()
        return out

    def fit(
        self,
        responses: Sequence[str],
        items: Sequence[str],
        y: np.ndarray,
        seed: int,
        num_labels: int,
        rows: TrainingRows | None = None,
    ) -> np.ndarray:
        """Fit (C by cross-validation) and return the training rows' out-of-fold log-probabilities (synthetic
        ``rows`` weighted and kept in their source's fold)."""
        try:
            self.chars.fit(responses)
        except ValueError:  # too few rows for min_df=2 to leave any n-gram
            self.chars.set_params(min_df=1)
            self.chars.fit(responses)
        self.items = {key: i for i, key in enumerate(sorted(set(items)))}
        matrix = self.matrix(responses, items)
        choice = cv.cross_validated_choice(logistic(), {"C": ITEM_C_GRID}, matrix, y, seed, rows, num_labels, out_of_fold=False)
        self.model, self.curve = choice.model, choice.curve
        return cv.out_of_fold_log_proba(self.model, matrix, y, cv.splits(y, seed, rows=rows), num_labels, rows)

    def log_proba(self, responses: Sequence[str], items: Sequence[str], num_labels: int) -> np.ndarray:
        return log_proba(self.model, self.matrix(responses, items), num_labels)

    def state(self) -> dict[str, Any]:
        return {
            "vocabulary": {k: int(i) for k, i in self.chars.vocabulary_.items()},
            "idf": self.chars.idf_.tolist(),
            "items": sorted(self.items, key=self.items.__getitem__),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        coef = np.asarray(self.model.coef_)
        used = np.flatnonzero(np.any(coef != 0, axis=0))
        return {
            "itemchars_used": used.astype(np.int64),
            "itemchars_coef": coef[:, used],
            "itemchars_width": np.asarray(coef.shape[1], dtype=np.int64),
            "itemchars_intercept": self.model.intercept_,
            "itemchars_classes": np.asarray(self.model.classes_, dtype=np.int64),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], arrays: Any) -> ItemCharModel:
        from sklearn.linear_model import LogisticRegression

        model = cls()
        model.chars.set_params(vocabulary=state["vocabulary"])
        model.chars.fit(["placeholder"])  # validates the fixed vocabulary; idf_ is replaced next
        model.chars.idf_ = np.asarray(state["idf"], dtype=np.float64)
        model.items = {key: i for i, key in enumerate(state["items"])}
        used = np.asarray(arrays["itemchars_used"], dtype=np.int64)
        coef_used = np.asarray(arrays["itemchars_coef"])
        coef = np.zeros((coef_used.shape[0], int(arrays["itemchars_width"])))
        coef[:, used] = coef_used
        model.model = LogisticRegression()
        model.model.coef_, model.model.intercept_ = coef, np.asarray(arrays["itemchars_intercept"])
        model.model.classes_ = np.asarray(arrays["itemchars_classes"])
        return model
