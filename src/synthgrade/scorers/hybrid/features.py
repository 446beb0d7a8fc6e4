"""The hybrid's features: a frozen encoder's embeddings, lexical models stacked out of fold, neighbour similarities
(see :mod:`synthgrade.scorers.hybrid` for the list)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthgrade.mix import TrainingRows
from synthgrade.modeling import context_parts
from synthgrade.scorers import cv
from synthgrade.scorers.fitting import logistic_arrays, logistic_from_arrays
from synthgrade.scorers.hybrid.item_chars import ItemCharModel
from synthgrade.scorers.hybrid.spec import log_proba, logistic, rows_by_key
from synthgrade.scorers.tfidf import TfidfFeatures, item_key

#: Scale of the interaction vectors relative to the standardised scalar features (chosen on validation rows
#: carved from the SciEntsBank training split, see benchmarks/scoring/bench_scorers.py).
EMBEDDING_WEIGHT = 0.3
TOP_K = 3
SCALED_BLOCKS = ("agnostic", "vectors", "neighbours", "stack", "words_stack", "item_stack", "recipe_stack")
#: Stack the ``lexical`` recipe's out-of-fold log-probabilities on the seen head (pair inputs only); decided on
#: held-out training-split rows by benchmarks/scoring/probe_hybrid_recipe.py.
RECIPE_STACK = False
LEXICAL_C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
#: The per-item character model is fitted only when the median item has this many training rows: below it the
#: per-item weights rest on one or two answers, and cross-validation on the training rows (50-label draws) scored
#: the seen head lower with it (benchmarks/scoring/probe_item_chars.py turns it off by raising this).
ITEM_CHARS_MIN_ROWS = 10


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
        if float(np.median(per_item)) < ITEM_CHARS_MIN_ROWS:
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
