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
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.errors import SynthgradeError
from synthgrade.io import read_json, stable_hash, write_json
from synthgrade.mix import TrainingRows, training_rows
from synthgrade.modeling import METADATA_FILE, ModelInfo, reading_model_files
from synthgrade.scorers.base import Provenance, TrainableScorer
from synthgrade.scorers.fitting import out_of_fold_record, prepare_inputs
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


class TfidfFeatures:
    """Builds the sparse feature matrix from (context, response) inputs; fit once, then transform."""

    def __init__(self, pair: bool) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.pair = pair
        self.words = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, token_pattern=TOKEN.pattern, lowercase=True)
        self.tagged = TfidfVectorizer(token_pattern=r"\S+", lowercase=False, sublinear_tf=True) if pair else None

    def fit(self, first: Sequence[str], second: Sequence[str] | None) -> TfidfFeatures:
        responses, contexts = self._split(first, second)
        self.words.fit(list(responses) + (sorted(set(contexts)) if contexts is not None else []))
        if self.tagged is not None and contexts is not None:
            self.tagged.fit([tagged_text(c, r) for c, r in zip(contexts, responses, strict=True)])
        return self

    def _split(self, first: Sequence[str], second: Sequence[str] | None) -> tuple[Sequence[str], Sequence[str] | None]:
        return (second, first) if second is not None else (first, None)

    def transform(self, first: Sequence[str], second: Sequence[str] | None) -> Any:
        from scipy.sparse import csr_matrix, hstack

        responses, contexts = self._split(first, second)
        words = self.words.transform(responses)
        if not self.pair or contexts is None:
            return words
        tagged = self.tagged.transform([tagged_text(c, r) for c, r in zip(contexts, responses, strict=True)])
        context_vectors = self.words.transform(contexts)
        similarity = np.asarray(words.multiply(context_vectors).sum(axis=1)).reshape(-1, 1)
        overlap = np.array(
            [
                len(set(TOKEN.findall(r.lower())) & set(TOKEN.findall(c.lower()))) / max(1, len(set(TOKEN.findall(r.lower()))))
                for c, r in zip(contexts, responses, strict=True)
            ]
        ).reshape(-1, 1)
        return hstack([words, tagged, csr_matrix(similarity), csr_matrix(overlap)]).tocsr()

    def state(self) -> dict[str, Any]:
        return {
            "pair": self.pair,
            "words": vectorizer_state(self.words),
            "tagged": vectorizer_state(self.tagged) if self.tagged is not None else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TfidfFeatures:
        features = cls(bool(state["pair"]))
        restore_vectorizers((features.words, state["words"]), (features.tagged, state.get("tagged")))
        return features


class TfidfScorer(TrainableScorer):
    """TF-IDF features + multinomial logistic regression (kind ``tfidf``)."""

    kind = "tfidf"

    def __init__(self, features: TfidfFeatures, classifier: Any, info: ModelInfo) -> None:
        self.features = features
        self.classifier = classifier
        self.info = info

    def predict_proba_inputs(self, first: Sequence[str], second: Sequence[str] | None, batch_size: int = 64) -> np.ndarray:
        raw = self.classifier.predict_proba(self.features.transform(first, second))
        # Classes absent from training get probability 0 in the model's label order.
        out = np.zeros((len(first), len(self.labels)))
        out[:, self.classifier.classes_] = raw
        return out

    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory / "tfidf.json", self.features.state())
        np.savez(
            directory / "logistic.npz",
            coef=self.classifier.coef_,
            intercept=self.classifier.intercept_,
            classes=np.asarray(self.classifier.classes_, dtype=np.int64),
        )
        self.info.kind = self.kind
        self.info.parameters = int(self.classifier.coef_.size + self.classifier.intercept_.size)
        self.info.save(directory)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> TfidfScorer:
        from sklearn.linear_model import LogisticRegression

        directory = Path(directory)
        info = ModelInfo.load(directory)
        with reading_model_files(directory, "tfidf"):
            features = TfidfFeatures.from_state(read_json(directory / "tfidf.json"))
            with np.load(directory / "logistic.npz", allow_pickle=False) as data:
                classifier = LogisticRegression()
                classifier.coef_ = data["coef"]
                classifier.intercept_ = data["intercept"]
                classifier.classes_ = data["classes"]
        classes = classifier.classes_
        if classes.size and (int(classes.max()) >= len(info.labels) or int(classes.min()) < 0):
            raise SynthgradeError(
                f"{directory}: damaged tfidf model: its weights have classes up to {int(classes.max())} but "
                f"{METADATA_FILE} lists {len(info.labels)} labels"
            )
        return cls(features, classifier, info)

    @classmethod
    def fit(
        cls, train_df: pd.DataFrame, val_df: pd.DataFrame, args: TrainingArguments, labels: list[str],
        provenance: Provenance = None,
    ) -> TfidfScorer:  # fmt: skip
        """Fit the TF-IDF model; pick C (and thus the model kept) by validation macro-F1."""
        from synthgrade.metrics import point_metrics

        started = time.perf_counter()
        info, inputs, y_train, y_val = prepare_inputs(train_df, val_df, args, labels, cls.kind, cls.kind)
        features = TfidfFeatures(info.input_mode == "pair").fit(*inputs["train"])
        x_train = features.transform(*inputs["train"])
        rows = training_rows(train_df, args.synthetic_weight)
        c, classifier, proba, curve = choose_c(x_train, y_train, features.transform(*inputs["val"]), y_val, labels, args, rows)
        scorer = cls(features, classifier, info)
        human = rows.human  # cross-validate on the human rows: a synthetic row's score says nothing about quality
        cv = cross_validated_macro_f1(classifier, x_train[human], y_train[human], args.seed)
        info.parameters = int(classifier.coef_.size + classifier.intercept_.size)
        info.training = {
            "arguments": args.to_dict(),
            "curve": curve,
            "best": {"C": c},
            "cv_macro_f1": cv,
            "oof": out_of_fold_record(train_df, out_of_fold_predictions(classifier, x_train, y_train, args.seed, rows), rows),
            "validation": point_metrics(y_val, proba, labels, ordinal=info.ordinal),
            "elapsed_s": round(time.perf_counter() - started, 2),
        }
        info.provenance = provenance or {}
        return scorer


def cross_validated_macro_f1(classifier: Any, matrix: Any, y: np.ndarray, seed: int) -> float | None:
    """Stratified k-fold macro-F1 of ``classifier``'s settings on the training rows (None with too few rows).

    ``auto`` compares candidates on it when validation is too small to separate them.
    """
    from sklearn.base import clone
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(y)
    present = counts[counts > 0]
    folds = int(min(5, present.min())) if len(present) > 1 else 0
    if folds < 2:
        return None
    predicted = np.zeros(len(y), dtype=np.int64)
    for train_index, test_index in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        predicted[test_index] = clone(classifier).fit(matrix[train_index], y[train_index]).predict(matrix[test_index])
    return float(f1_score(y, predicted, average="macro"))


def out_of_fold_predictions(classifier: Any, matrix: Any, y: np.ndarray, seed: int, rows: Any = None) -> np.ndarray | None:
    """Each human training row predicted by a copy of ``classifier`` fitted without its fold (None with too few rows).

    With synthetic rows, a human row and the rows rewritten from it share a fold, synthetic rows only ever
    train (with their sample weights), and folds are stratified on the human rows.
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    human = rows.human if rows is not None else np.ones(len(y), dtype=bool)
    counts = np.bincount(y[human])
    present = counts[counts > 0]
    folds = int(min(5, present.min())) if len(present) > 1 else 0
    if folds < 2:
        return None
    if rows is not None and rows.has_synthetic:
        splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        splits = [(a, b[human[b]]) for a, b in splitter.split(np.zeros(len(y)), y, groups=rows.source)]
    else:
        splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    predicted = np.zeros(len(y), dtype=np.int64)
    for train_index, test_index in splits:
        options = {"sample_weight": rows.weight[train_index]} if rows is not None and rows.has_synthetic else {}
        model = clone(classifier).fit(matrix[train_index], y[train_index], **options)
        predicted[test_index] = model.predict(matrix[test_index])
    return predicted


def choose_c(
    x_train: Any, y_train: np.ndarray, x_val: Any, y_val: np.ndarray, labels: list[str], args: Any, rows: TrainingRows
) -> tuple[float, Any, np.ndarray, list[dict[str, float]]]:
    """(C, classifier, validation probabilities, curve): the C of ``C_GRID`` with the best validation macro-F1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    curve = []
    best: tuple[float, float] | None = None
    chosen = None
    fit_options = {"sample_weight": rows.weight} if rows.has_synthetic else {}
    for c in C_GRID:
        classifier = LogisticRegression(C=c, max_iter=2000, class_weight="balanced" if args.class_weights else None)
        classifier.fit(x_train, y_train, **fit_options)
        raw = classifier.predict_proba(x_val)
        proba = np.zeros((len(y_val), len(labels)))
        proba[:, classifier.classes_] = raw
        f1 = float(f1_score(y_val, proba.argmax(axis=1), average="macro"))
        loss = float(-np.log(np.clip(proba[np.arange(len(y_val)), y_val], 1e-12, None)).mean())
        curve.append({"C": c, "val_macro_f1": f1, "val_loss": loss})
        if best is None or (f1, -loss) > best:
            best, chosen = (f1, -loss), (c, classifier, proba)
    assert chosen is not None
    return (*chosen, curve)
