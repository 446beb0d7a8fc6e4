"""Hybrid scorer (kind ``hybrid``): lexical features and a *frozen* sentence encoder, logistic regression on top.

Fine-tuning a transformer on a few hundred labels on a CPU loses to logistic regression on word counts;
a frozen encoder does not overfit, and its embeddings carry the meaning that word overlap misses. The
features of a response ``r`` to an item with wording ``q`` and reference answer ``a`` (``e(x)`` = the
L2-normalised sentence embedding):

* item-agnostic (learnt across items, so they transfer to items never seen in training):
  ``cos(e(r), e(a))``, ``cos(e(r), e(q))``, TF-IDF cosine and word overlap with the item text, and the
  interaction vectors ``e(r) * e(a)`` and ``|e(r) - e(a)|`` (in response mode, ``e(r)`` itself);
* item-specific (only for items with labelled training rows): per label, the largest and the mean top-3
  similarity of ``r`` to that item's training responses of the label (leave-one-out on training rows), and
  the log-probabilities of the ``tfidf`` baseline's model (n-grams, per-item n-grams, overlap), stacked:
  out-of-fold on the training rows, so the head learns how far to trust it. Stacking rather than
  appending the sparse n-grams lets each part keep its own regularisation (the n-grams want little, the
  dense features much more); and, stacked the same way, the log-probabilities of a per-item character
  n-gram model (one weight per item and character 2-5-gram, so misspelt and inflected forms of the words
  an item's graders rewarded still count), fitted only when items have many labelled rows
  (``ITEM_CHARS_MIN_ROWS``; with all ~30 rows per SciEntsBank item it lifted validation macro-F1, see
  benchmarks/probe_hybrid_seen.py).

Two heads are fitted: ``seen`` (all features) scores responses to items present in the training rows,
``unseen`` (item-agnostic features only) scores the rest, so a model trained on some questions does not
lean on features that are blank for new ones. Each head's regularisation is chosen by cross-validation
on the training rows: stratified folds for the seen head; folds of whole items (``GroupKFold``, when at
least 5 items have labelled rows and every fold keeps every label) for the unseen head, so its choice
is scored on items it did not see. With synthetic rows, a human response and its rewrites share a fold
and only human rows are scored. Validation rows are only used to report (and by ``auto`` to choose).

Saved without pickle: the lexical vocabularies (JSON), the coefficients and the training rows' embeddings
(``hybrid.npz``); the encoder is referenced by its registry name, or copied into ``encoder/`` when it is a
local folder, so the directory scores on any machine where synthgrade and that encoder are installed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.errors import SynthgradeError
from synthgrade.io import read_json, write_json
from synthgrade.mix import TrainingRows, training_rows
from synthgrade.modeling import REFERENCE_MARK, ModelInfo
from synthgrade.registry import DEFAULT_ENCODER, REGISTRY, resolve_model
from synthgrade.scorers import cv
from synthgrade.scorers.base import Provenance, TrainableScorer
from synthgrade.scorers.fitting import logistic_arrays, logistic_from_arrays, out_of_fold_record, prepare_inputs
from synthgrade.scorers.tfidf import TfidfFeatures, item_key
from synthgrade.scorers.training_args import TrainingArguments

KIND = "hybrid"
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: Scale of the interaction vectors relative to the standardised scalar features (chosen on validation rows
#: carved from the SciEntsBank training split, see benchmarks/bench_scorers.py).
EMBEDDING_WEIGHT = 0.3
TOP_K = 3


def default_hybrid_encoder() -> str:
    """mpnet-base where its packages are installed (``make setup`` does), else MiniLM."""
    from synthgrade.registry import assembly_installed

    return "mpnet-base" if assembly_installed("mpnet-base") else DEFAULT_ENCODER


def parse_spec(spec: str) -> str:
    """``hybrid`` or ``hybrid:<encoder>`` -> the encoder name."""
    if spec == KIND:
        return default_hybrid_encoder()
    if spec.startswith(KIND + ":") and spec[len(KIND) + 1 :].strip():
        return spec[len(KIND) + 1 :].strip()
    raise SynthgradeError(f"model spec '{spec}': use hybrid or hybrid:<encoder> (e.g. hybrid:minilm-l6)")


def split_encoder(encoder: str) -> tuple[str, str]:
    """(``static:`` or "", the name or folder): static encoders are model2vec folders."""
    from synthgrade.embed import STATIC_PREFIX

    return (STATIC_PREFIX, encoder[len(STATIC_PREFIX) :]) if encoder.startswith(STATIC_PREFIX) else ("", encoder)


def context_parts(context: str) -> tuple[str, str]:
    """(item wording, reference answer) of a pair-mode context; either stands in for a missing other."""
    wording, mark, reference = context.partition(REFERENCE_MARK)
    if not mark:
        return context, context
    return wording or reference, reference or wording


def rows_by_key(keys: Sequence[str]) -> dict[str, list[int]]:
    """Row indices per key (item), in row order."""
    out: dict[str, list[int]] = {}
    for row, key in enumerate(keys):
        out.setdefault(key, []).append(row)
    return out


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


class HybridFeatures:
    """Builds both heads' feature matrices; ``fit`` keeps the training rows' embeddings for the neighbour features."""

    def __init__(self, encoder: str, pair: bool, labels: int, max_length: int = 128, weight: float = EMBEDDING_WEIGHT) -> None:
        self.encoder = encoder
        self.pair = pair
        self.num_labels = labels
        self.max_length = max_length
        self.weight = weight
        self.lexical = TfidfFeatures(pair)
        self.bank_embeddings = np.zeros((0, 0), dtype=np.float32)
        self.bank_labels = np.zeros(0, dtype=np.int64)
        self.bank_items: list[str] = []
        self._bank_sources: np.ndarray | None = None
        self.lexical_model: Any = None
        self.lexical_curve: list[dict] = []
        self.words_model: Any = None
        self.item_chars: ItemCharModel | None = None
        #: Optional linear map applied to the encoder's vectors (a student's static encoder mapped into its
        #: teacher's embedding space, see distill/hybrid_student.py); rows are re-normalised after it.
        self.projection: np.ndarray | None = None
        self._training_item_stack: np.ndarray | None = None
        #: The strong lexical recipe (``lexical`` kind: n-grams, item-tagged words, reference recall/precision,
        #: length, balanced classes) stacked like the tfidf model; None in models saved before it existed.
        self.recipe: tuple[Any, Any] | None = None
        self._training_recipe_stack: np.ndarray | None = None
        # Out-of-fold stacks of the training rows, used only while fitting the heads (never saved).
        self._training_stack: np.ndarray | None = None
        self._training_words_stack: np.ndarray | None = None
        self.scale: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._context_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # -- embeddings -------------------------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from synthgrade.embed import embed_texts

        vectors = embed_texts(list(texts), model=self.encoder, max_length=self.max_length)
        if self.projection is None or not len(vectors):
            return vectors
        mapped = vectors @ self.projection
        return (mapped / np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-9)).astype(np.float32)

    def context_embeddings(self, contexts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(wording, reference) embeddings per row; each distinct item is embedded once per process."""
        missing = sorted({c for c in contexts if c not in self._context_cache})
        if missing:
            wordings, references = zip(*(context_parts(c) for c in missing), strict=True)
            vectors = self.embed(list(wordings) + list(references))
            for i, context in enumerate(missing):
                self._context_cache[context] = (vectors[i], vectors[len(missing) + i])
        wording = np.stack([self._context_cache[c][0] for c in contexts])
        reference = np.stack([self._context_cache[c][1] for c in contexts])
        return wording, reference

    # -- fitting ----------------------------------------------------------------------------------------
    def fit(
        self, first: Sequence[str], second: Sequence[str] | None, y: np.ndarray, seed: int = 0, rows: TrainingRows | None = None
    ) -> HybridFeatures:
        """Fit the lexical models and the neighbour bank; ``rows`` (mixed training sets only) carries sample
        weights and source groups, so synthetic rows count less and never leak into their source's folds."""
        rows = rows if rows is not None and rows.has_synthetic else None
        self.lexical.fit(first, second)
        lexical = self.lexical.transform(first, second)
        self.lexical_model, self.lexical_curve, self._training_stack = self._stacked(lexical, np.asarray(y), seed, rows)
        responses, contexts = (second, first) if second is not None else (first, None)
        # Words only, out of item: what the n-grams say about a response to a question never seen in training.
        words = self.lexical.words.transform(responses)
        items = [self._key(c) for c in contexts] if contexts is not None else None
        self.words_model, _, self._training_words_stack = self._stacked(words, np.asarray(y), seed, rows, items)
        self.bank_embeddings = self.embed(responses)
        self.bank_labels = np.asarray(y, dtype=np.int64)
        self.bank_items = items if items is not None else [""] * len(responses)
        # Training-time only (not saved): a training row must not find itself, nor rows rewritten from it.
        self._bank_sources = np.asarray(rows.source, dtype=object) if rows is not None else None
        if RECIPE_STACK and contexts is not None:
            self._fit_recipe(first, second, np.asarray(y), seed, rows)
        per_item = np.unique(np.asarray(self.bank_items), return_counts=True)[1]
        if not ITEM_CHARS or float(np.median(per_item)) < ITEM_CHARS_MIN_ROWS:
            return self  # too few labelled rows per item for per-item n-grams: the model is left out
        self.item_chars = ItemCharModel()
        self._training_item_stack = self.item_chars.fit(responses, self.bank_items, np.asarray(y), seed, self.num_labels, rows)
        return self

    def _stacked(
        self, matrix: Any, y: np.ndarray, seed: int, rows: TrainingRows | None, groups: Sequence[str] | None = None
    ) -> tuple[Any, list[dict], np.ndarray]:
        """A lexical model whose log-probabilities the heads stack: (model with C by cross-validation, its curve,
        the training rows' out-of-fold log-probabilities, folds of whole items with ``groups``)."""
        choice = cv.cross_validated_choice(logistic(), {"C": LEXICAL_C_GRID}, matrix, y, seed, rows, self.num_labels, groups)
        if choice.oof_proba is None:  # too few rows for folds: in-sample
            return choice.model, choice.curve, log_proba(choice.model, matrix, self.num_labels)
        return choice.model, choice.curve, np.log(np.clip(choice.oof_proba, 1e-4, 1.0))

    def _fit_recipe(self, first: Sequence[str], second: Sequence[str] | None, y: np.ndarray, seed: int, rows: Any) -> None:
        from synthgrade.scorers.lexical import C_GRID as RECIPE_C_GRID
        from synthgrade.scorers.lexical import LexicalFeatures

        features = LexicalFeatures(True).fit(first, second)
        matrix = features.transform(first, second)
        estimator = logistic(class_weight="balanced")
        choice = cv.cross_validated_choice(estimator, {"C": RECIPE_C_GRID}, matrix, y, seed, rows, self.num_labels)
        self.recipe = (features, choice.model)
        in_sample = choice.oof_proba is None
        self._training_recipe_stack = log_proba(choice.model, matrix, self.num_labels) if in_sample else (
            np.log(np.clip(choice.oof_proba, 1e-4, 1.0))
        )  # fmt: skip

    def _key(self, context: str | None) -> str:
        return item_key(context) if self.pair and context else ""

    def seen(self, first: Sequence[str], second: Sequence[str] | None) -> np.ndarray:
        """Which rows belong to an item that has labelled training rows (these use the ``seen`` head)."""
        if second is None:
            return np.ones(len(first), dtype=bool)
        known = set(self.bank_items)
        return np.array([self._key(c) in known for c in first], dtype=bool)

    # -- features ---------------------------------------------------------------------------------------
    def _neighbours(self, responses: np.ndarray, items: list[str], leave_out: bool) -> np.ndarray:
        """Per label: max and top-k mean cosine to the same item's training rows of that label, and presence."""
        out = np.zeros((len(items), 3 * self.num_labels), dtype=np.float64)
        by_item = rows_by_key(self.bank_items)
        for key, rows in rows_by_key(items).items():
            bank = np.asarray(by_item.get(key, []), dtype=np.int64)
            if not len(bank):
                continue
            similarity = responses[rows] @ self.bank_embeddings[bank].T
            if leave_out and self._bank_sources is not None:  # mixed rows: leave the whole source group out
                sources = self._bank_sources[bank]
                similarity[sources[:, None] == sources[None, :]] = -np.inf
            elif leave_out:  # scoring the training rows themselves: rows == bank, so a row must not find itself
                np.fill_diagonal(similarity, -np.inf)
            labels = self.bank_labels[bank]
            for label in range(self.num_labels):
                columns = labels == label
                if not columns.any():
                    continue
                values = np.sort(similarity[:, columns], axis=1)[:, ::-1]
                finite = np.isfinite(values)
                has = finite[:, 0]
                top = np.where(finite[:, :TOP_K], values[:, :TOP_K], 0.0)
                count = finite[:, :TOP_K].sum(axis=1)
                out[rows, 3 * label] = np.where(has, values[:, 0], 0.0)
                out[rows, 3 * label + 1] = np.where(count > 0, top.sum(axis=1) / np.maximum(count, 1), 0.0)
                out[rows, 3 * label + 2] = has.astype(float)
        return out

    def blocks(self, first: Sequence[str], second: Sequence[str] | None, training: bool = False) -> dict[str, Any]:
        """Raw feature blocks: ``agnostic`` scalars, ``vectors`` (interaction), ``neighbours``, and the stacked
        log-probabilities of the lexical model (``stack``), of the out-of-item words model (``words_stack``) and
        of the per-item character model (``item_stack``)."""
        responses, contexts = (second, first) if second is not None else (first, None)
        response_vectors = self.embed(responses)
        lexical = self.lexical.transform(first, second)
        if contexts is not None:
            wording, reference = self.context_embeddings(contexts)
            scalars = np.column_stack(
                [
                    (response_vectors * reference).sum(axis=1),
                    (response_vectors * wording).sum(axis=1),
                    lexical[:, -2:].toarray(),  # TF-IDF cosine and word overlap with the item (see TfidfFeatures)
                ]
            )
            vectors = np.hstack([response_vectors * reference, np.abs(response_vectors - reference)])
        else:
            scalars = np.zeros((len(responses), 0))
            vectors = response_vectors
        items = [self._key(c) for c in contexts] if contexts is not None else [""] * len(responses)
        neighbours = self._neighbours(response_vectors, items, leave_out=training)
        if training and self._training_stack is not None and self._training_words_stack is not None:
            stack, words_stack = self._training_stack, self._training_words_stack
        else:
            stack = log_proba(self.lexical_model, lexical, self.num_labels)
            words_stack = log_proba(self.words_model, self.lexical.words.transform(responses), self.num_labels)
        out = {"agnostic": scalars, "vectors": vectors, "neighbours": neighbours, "stack": stack, "words_stack": words_stack}
        if self.recipe is not None:
            if training and self._training_recipe_stack is not None:
                out["recipe_stack"] = self._training_recipe_stack
            else:
                out["recipe_stack"] = log_proba(self.recipe[1], self.recipe[0].transform(first, second), self.num_labels)
        if self.item_chars is not None:  # absent in models saved before it existed
            if training and self._training_item_stack is not None:
                out["item_stack"] = self._training_item_stack
            else:
                out["item_stack"] = self.item_chars.log_proba(responses, items, self.num_labels)
        return out

    def fit_scale(self, blocks: dict[str, Any]) -> None:
        for name in (n for n in SCALED_BLOCKS if n in blocks):
            values = np.asarray(blocks[name], dtype=np.float64)
            self.scale[name] = (values.mean(axis=0), values.std(axis=0) + 1e-6)

    def matrices(self, blocks: dict[str, Any]) -> tuple[Any, Any]:
        """(seen-head matrix, unseen-head matrix), standardised with the training statistics."""
        from scipy.sparse import csr_matrix, hstack

        def standard(name: str) -> np.ndarray:
            mean, std = self.scale[name]
            return (np.asarray(blocks[name], dtype=np.float64) - mean) / std

        vectors = standard("vectors") * (self.weight / np.sqrt(max(1, blocks["vectors"].shape[1]) / 100))
        agnostic = [csr_matrix(standard("agnostic")), csr_matrix(vectors), csr_matrix(standard("words_stack"))]
        unseen = hstack(agnostic).tocsr()
        specific = [
            csr_matrix(standard(name)) for name in ("neighbours", "stack", "item_stack", "recipe_stack") if name in self.scale
        ]
        seen = hstack(agnostic + specific).tocsr()
        return seen, unseen

    # -- persistence ------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder,
            "pair": self.pair,
            "num_labels": self.num_labels,
            "max_length": self.max_length,
            "weight": self.weight,
            "lexical": self.lexical.state(),
            "bank_items": self.bank_items,
            "item_chars": self.item_chars.state() if self.item_chars is not None else None,
            "recipe": self.recipe[0].state() if self.recipe is not None else None,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"bank_embeddings": self.bank_embeddings.astype(np.float32), "bank_labels": self.bank_labels}
        out |= logistic_arrays(self.lexical_model, "lexical_") | logistic_arrays(self.words_model, "words_")
        if self.item_chars is not None:
            out |= self.item_chars.arrays()
        if self.recipe is not None:
            out |= logistic_arrays(self.recipe[1], "recipe_")
        if self.projection is not None:
            out["projection"] = self.projection.astype(np.float32)
        for name, (mean, std) in self.scale.items():
            out[f"{name}_mean"], out[f"{name}_std"] = mean, std
        return out

    @classmethod
    def from_state(cls, state: dict[str, Any], arrays: Any, encoder: str) -> HybridFeatures:
        features = cls(encoder, bool(state["pair"]), int(state["num_labels"]), int(state["max_length"]), float(state["weight"]))
        features.lexical = TfidfFeatures.from_state(state["lexical"])
        features.bank_items = list(state["bank_items"])
        features.bank_embeddings = np.asarray(arrays["bank_embeddings"], dtype=np.float32)
        features.bank_labels = np.asarray(arrays["bank_labels"], dtype=np.int64)
        if "projection" in arrays:
            features.projection = np.asarray(arrays["projection"], dtype=np.float32)
        if state.get("item_chars"):
            features.item_chars = ItemCharModel.from_state(state["item_chars"], arrays)
        if state.get("recipe"):
            from synthgrade.scorers.lexical import LexicalFeatures

            features.recipe = (LexicalFeatures.from_state(state["recipe"]), logistic_from_arrays(arrays, "recipe_"))
        for name in SCALED_BLOCKS:
            if (name == "item_stack" and features.item_chars is None) or (name == "recipe_stack" and not state.get("recipe")):
                continue
            features.scale[name] = (np.asarray(arrays[f"{name}_mean"]), np.asarray(arrays[f"{name}_std"]))
        features.lexical_model = logistic_from_arrays(arrays, "lexical_")
        features.words_model = logistic_from_arrays(arrays, "words_")
        return features


SCALED_BLOCKS = ("agnostic", "vectors", "neighbours", "stack", "words_stack", "item_stack", "recipe_stack")
#: Stack the ``lexical`` recipe's out-of-fold log-probabilities on the seen head (pair inputs only); decided on
#: held-out training-split rows by benchmarks/probe_hybrid_recipe.py.
RECIPE_STACK = False
LEXICAL_C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
#: Fit the per-item character model (off only to measure what it adds: benchmarks/probe_hybrid_seen.py).
ITEM_CHARS = True
#: ... and only when the median item has this many training rows: below it the per-item weights rest on one or
#: two answers, and cross-validation on the training rows (50-label draws) scored the seen head lower with it.
ITEM_CHARS_MIN_ROWS = 10
#: The per-item character model is sparse and item-specific: it wants little regularisation. Cross-validation on
#: the training rows of the three all-rows SciEntsBank draws chose C = 30 each time (from 1-300 on two, 0.3-30 on
#: one; benchmarks/probe_hybrid_seen.py), so it is fixed: one fit instead of a grid (large C fits slowly).
ITEM_C_GRID = (30.0,)


def logistic(class_weight: str | None = None) -> Any:
    """The logistic regression every hybrid model fits (C is chosen by cross-validation)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=3000, class_weight=class_weight)


def log_proba(classifier: Any, matrix: Any, num_labels: int) -> np.ndarray:
    """Clipped log-probabilities over all labels (the form the heads stack)."""
    return np.log(np.clip(cv.label_proba(classifier, matrix, num_labels), 1e-4, 1.0))


class HybridScorer(TrainableScorer):
    """Frozen-encoder + lexical features with a ``seen``-item and an ``unseen``-item logistic regression head."""

    kind = KIND

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return spec == KIND or spec.startswith(KIND + ":")

    def __init__(self, features: HybridFeatures, heads: dict[str, Any], info: ModelInfo) -> None:
        self.features = features
        self.heads = heads
        self.info = info
        self.oof_proba: np.ndarray | None = None  # set by fit, never saved

    def predict_proba_inputs(self, first: Sequence[str], second: Sequence[str] | None, batch_size: int = 64) -> np.ndarray:
        seen_matrix, unseen_matrix = self.features.matrices(self.features.blocks(first, second))
        seen = self.features.seen(first, second)
        out = cv.label_proba(self.heads["unseen"], unseen_matrix, len(self.labels))
        if seen.any():
            out[seen] = cv.label_proba(self.heads["seen"], seen_matrix[np.flatnonzero(seen)], len(self.labels))
        return out

    def save_weights(self, directory: Path) -> None:
        prefix, name = split_encoder(self.features.encoder)
        source = Path(name).expanduser()
        encoder = self.features.encoder
        if name not in REGISTRY and source.is_dir():
            # A local encoder folder travels with the model; registry names are installed by make setup.
            if source.resolve() != (directory / "encoder").resolve():
                shutil.copytree(source, directory / "encoder", dirs_exist_ok=True)
            encoder = prefix + "encoder"
        state = self.features.state() | {"encoder": encoder}
        write_json(directory / "hybrid.json", state)
        arrays = self.features.arrays()
        for name, head in self.heads.items():
            arrays |= logistic_arrays(head, f"{name}_")
        np.savez(directory / "hybrid.npz", **arrays)

    @classmethod
    def load_weights(cls, directory: Path, info: ModelInfo) -> HybridScorer:
        state = read_json(directory / "hybrid.json")
        prefix, name = split_encoder(state["encoder"])
        encoder = prefix + str(directory / "encoder") if name == "encoder" else state["encoder"]
        with np.load(directory / "hybrid.npz", allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        features = HybridFeatures.from_state(state, arrays, encoder)
        heads = {name: logistic_from_arrays(arrays, f"{name}_") for name in ("seen", "unseen")}
        return cls(features, heads, info)

    @classmethod
    def fit(
        cls, train_df: pd.DataFrame, val_df: pd.DataFrame, args: TrainingArguments, labels: list[str],
        provenance: Provenance = None, projection: np.ndarray | None = None,
    ) -> HybridScorer:  # fmt: skip
        """Fit the hybrid scorer on ``train_df`` (C by cross-validation there); report on ``val_df`` (human rows).

        ``projection`` (encoder dims x target dims) maps the encoder's vectors before every feature is computed."""
        from synthgrade.metrics import point_metrics

        started = time.perf_counter()
        encoder = parse_spec(args.model)
        if not split_encoder(encoder)[0]:
            resolve_model(encoder)  # a missing or corrupt encoder package fails here, with its one-line error
        info, inputs, y_train, y_val = prepare_inputs(train_df, val_df, args, labels, KIND, f"{KIND}:{encoder}")
        features = HybridFeatures(encoder, info.input_mode == "pair", len(labels), args.max_length)
        rows = training_rows(train_df, getattr(args, "synthetic_weight", 1.0))
        rows = rows if rows.has_synthetic else None
        features.projection = projection
        features.fit(*inputs["train"], y_train, seed=args.seed, rows=rows)
        train_blocks = features.blocks(*inputs["train"], training=True)
        features.fit_scale(train_blocks)
        seen_matrix, unseen_matrix = features.matrices(train_blocks)
        class_weight = "balanced" if args.class_weights else None
        items = features.bank_items if features.pair else None
        choices = {
            name: cv.cross_validated_choice(
                logistic(class_weight), {"C": C_GRID}, matrix, y_train, args.seed, rows, len(labels), groups
            )
            for name, matrix, groups in (("seen", seen_matrix, None), ("unseen", unseen_matrix, items))
        }
        heads = {name: choice.model for name, choice in choices.items()}
        scorer = cls(features, heads, info)
        # The seen head's out-of-fold probabilities of the training rows (in memory only): auto weighs ensembles on them.
        scorer.oof_proba = choices["seen"].oof_proba
        proba = scorer.predict_proba_inputs(*inputs["val"]) if len(y_val) else np.zeros((0, len(labels)))
        info.parameters = int(sum(h.coef_.size + h.intercept_.size for h in heads.values()))
        item_curve = features.item_chars.curve if features.item_chars is not None else []
        info.training = {
            "arguments": args.to_dict(),
            "encoder": encoder,
            "curve": {name: choice.curve for name, choice in choices.items()}
            | {"lexical": features.lexical_curve, "item_chars": item_curve},
            "cv_macro_f1": choices["seen"].score,
            "cv_macro_f1_unseen_head": choices["unseen"].score,
            "best": {name: {"C": float(head.C)} for name, head in heads.items()},
            "oof": out_of_fold_record(train_df, choices["seen"].oof_pred, rows),
            "validation": point_metrics(y_val, proba, labels, ordinal=info.ordinal),
            "elapsed_s": round(time.perf_counter() - started, 2),
        }
        info.provenance = provenance or {}
        return scorer
