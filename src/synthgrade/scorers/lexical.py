"""The ``lexical`` scorer kind: the textbook strong lexical recipe for short-answer scoring.

What a user would write in ten lines instead of this tool, kept as a named kind so every benchmark and
``auto`` can be measured against it:

* TF-IDF word 1-2-grams of the response;
* the same words tagged with the item (item-specific vocabulary: one model learns, per question, which
  words its graders rewarded);
* the share of the reference answer's words that the response contains (recall), the share of the
  response's words found in the reference (precision), and the response length (log of its word count);
* logistic regression with balanced class weights, its C chosen by stratified k-fold macro-F1 on the
  training rows (never on the validation rows that ``auto`` compares candidates on).

Responses to items absent from training get blank item-tagged features and are scored by the generic words
and the reference overlap. Without item text or a reference (``response`` input mode) only the response
words and length remain. Saved without pickle: vocabularies and IDF weights in JSON, coefficients in ``.npz``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthgrade.modeling import context_parts
from synthgrade.scorers.linear import LinearScorer
from synthgrade.scorers.tfidf import TOKEN, WordFeatures
from synthgrade.scorers.training_args import TrainingArguments

KIND = "lexical"
#: Searched by cross-validation on the training rows; the textbook recipe fixes C = 4, inside the grid.
C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


def reference_of(context: str) -> str:
    """The reference answer in a pair-mode context (the item wording when the item has no reference)."""
    return context_parts(context)[1]


def overlap_features(responses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per row: recall (share of the reference's distinct words in the response) and precision (share of the
    response's distinct words in the reference)."""
    out = np.zeros((len(responses), 2))
    for row, (response, reference) in enumerate(zip(responses, references, strict=True)):
        said, wanted = set(TOKEN.findall(response.lower())), set(TOKEN.findall(reference.lower()))
        shared = len(said & wanted)
        out[row] = (shared / max(1, len(wanted)), shared / max(1, len(said)))
    return out


def length_feature(responses: Sequence[str]) -> np.ndarray:
    """Per row: log(1 + number of words)."""
    return np.log1p([len(TOKEN.findall(r)) for r in responses]).reshape(-1, 1)


class LexicalFeatures(WordFeatures):
    """Sparse matrix of the recipe's features from (context, response) inputs; fit once, then transform."""

    def fit(self, first: Sequence[str], second: Sequence[str] | None) -> LexicalFeatures:
        responses, contexts = self.split(first, second)
        self.words.fit(responses)
        self.fit_tagged(responses, contexts)
        return self

    def transform(self, first: Sequence[str], second: Sequence[str] | None) -> Any:
        from scipy.sparse import csr_matrix, hstack

        responses, contexts = self.split(first, second)
        blocks = [self.words.transform(responses), csr_matrix(length_feature(responses))]
        if self.tagged is not None and contexts is not None:
            blocks.append(self.tagged_matrix(responses, contexts))
            blocks.append(csr_matrix(overlap_features(responses, [reference_of(c) for c in contexts])))
        return hstack(blocks).tocsr()


class LexicalScorer(LinearScorer):
    """The strong lexical recipe (kind ``lexical``): n-grams, item-tagged words, reference overlap, length."""

    kind = KIND
    features_class = LexicalFeatures
    state_file, weights_file = "lexical.json", "lexical.npz"
    grid = {"C": C_GRID}

    @classmethod
    def estimator(cls, args: TrainingArguments) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=3000, class_weight="balanced")
