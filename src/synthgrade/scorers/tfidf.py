"""The ``tfidf`` scorer kind: the cheap baseline, fitted and saved like every other kind.

TF-IDF word n-grams of the response + logistic regression. When the model scores
(item, response) pairs it adds per-item features (each response word tagged with its item, so one
model learns item-specific vocabulary) and the response's TF-IDF cosine similarity to the item's
reference/wording. The regularisation strength is chosen on the human validation split.

Saved without pickle: vocabularies and IDF weights in JSON, coefficients in a NumPy ``.npz``.
The other baseline, the LLM grader (``llm:<backend>:<model>`` specs), lives with the LLM filter
(:mod:`synthgrade.filter.llm`): it is loaded from a spec, never trained.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthgrade.io import stable_hash
from synthgrade.scorers.linear import LinearScorer
from synthgrade.scorers.training_args import TrainingArguments

TOKEN = re.compile(r"(?u)\b\w+\b")
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def item_key(context: str) -> str:
    return "i" + stable_hash(context, 8)


def tagged_text(context: str, response: str) -> str:
    key = item_key(context)
    return " ".join(f"{key}_{token}" for token in TOKEN.findall(response.lower()))


def vectorizer_state(vectorizer: Any) -> dict[str, Any]:
    """A fitted TfidfVectorizer as JSON: its vocabulary and IDF weights (saved models hold no pickle)."""
    return {"vocabulary": {k: int(i) for k, i in vectorizer.vocabulary_.items()}, "idf": vectorizer.idf_.tolist()}


def restore_vectorizers(*pairs: tuple[Any, dict[str, Any] | None]) -> None:
    """Give each (vectorizer, saved state) pair its saved vocabulary and IDF weights; None on either side is skipped."""
    for vectorizer, saved in pairs:
        if vectorizer is None or saved is None:
            continue
        vectorizer.set_params(vocabulary=saved["vocabulary"])
        vectorizer.fit(["placeholder"])  # validates the fixed vocabulary; idf_ is replaced next
        vectorizer.idf_ = np.asarray(saved["idf"], dtype=np.float64)


class WordFeatures:
    """What both lexical kinds fit, save and load: word 1-2-grams of the response and, in pair mode, the same words
    tagged with their item (an item-specific vocabulary). Subclasses add their own features in ``transform``."""

    def __init__(self, pair: bool) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.pair = pair
        self.words = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, token_pattern=TOKEN.pattern, lowercase=True)
        self.tagged = TfidfVectorizer(token_pattern=r"\S+", lowercase=False, sublinear_tf=True) if pair else None

    @staticmethod
    def split(first: Sequence[str], second: Sequence[str] | None) -> tuple[Sequence[str], Sequence[str] | None]:
        """(responses, contexts or None) of model inputs."""
        return (second, first) if second is not None else (first, None)

    def fit_tagged(self, responses: Sequence[str], contexts: Sequence[str] | None) -> None:
        if self.tagged is not None and contexts is not None:
            self.tagged.fit([tagged_text(c, r) for c, r in zip(contexts, responses, strict=True)])

    def tagged_matrix(self, responses: Sequence[str], contexts: Sequence[str]) -> Any:
        return self.tagged.transform([tagged_text(c, r) for c, r in zip(contexts, responses, strict=True)])

    def state(self) -> dict[str, Any]:
        tagged = vectorizer_state(self.tagged) if self.tagged is not None else None
        return {"pair": self.pair, "words": vectorizer_state(self.words), "tagged": tagged}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Any:
        features = cls(bool(state["pair"]))
        restore_vectorizers((features.words, state["words"]), (features.tagged, state.get("tagged")))
        return features


class TfidfFeatures(WordFeatures):
    """The ``tfidf`` kind's matrix: words (fitted on responses and item texts), item-tagged words, and the
    response's TF-IDF cosine and word overlap with its item text."""

    def fit(self, first: Sequence[str], second: Sequence[str] | None) -> TfidfFeatures:
        responses, contexts = self.split(first, second)
        self.words.fit(list(responses) + (sorted(set(contexts)) if contexts is not None else []))
        self.fit_tagged(responses, contexts)
        return self

    def transform(self, first: Sequence[str], second: Sequence[str] | None) -> Any:
        from scipy.sparse import csr_matrix, hstack

        responses, contexts = self.split(first, second)
        words = self.words.transform(responses)
        if not self.pair or contexts is None:
            return words
        context_vectors = self.words.transform(contexts)
        similarity = np.asarray(words.multiply(context_vectors).sum(axis=1)).reshape(-1, 1)
        overlap = np.array(
            [
                len(set(TOKEN.findall(r.lower())) & set(TOKEN.findall(c.lower()))) / max(1, len(set(TOKEN.findall(r.lower()))))
                for c, r in zip(contexts, responses, strict=True)
            ]
        ).reshape(-1, 1)
        return hstack([words, self.tagged_matrix(responses, contexts), csr_matrix(similarity), csr_matrix(overlap)]).tocsr()


class TfidfScorer(LinearScorer):
    """TF-IDF features + multinomial logistic regression (kind ``tfidf``), C by cross-validation."""

    kind = "tfidf"
    features_class = TfidfFeatures
    state_file, weights_file = "tfidf.json", "logistic.npz"
    grid = {"C": C_GRID}

    @classmethod
    def estimator(cls, args: TrainingArguments) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000, class_weight="balanced" if args.class_weights else None)
