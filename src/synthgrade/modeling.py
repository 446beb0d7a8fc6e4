"""Scorers: anything that turns responses into label probabilities, and the directories they live in.

Every saved model is a directory holding ``synthgrade.json`` (:class:`ModelInfo`) next to its weights.
``load_scorer`` opens any such directory (a fine-tuned teacher, a distilled student, a TF-IDF baseline,
an ONNX export) and returns a :class:`Scorer` with scikit-learn style ``predict`` / ``predict_proba``
over response tables. Scoring needs only ``item_id`` and the response when the model carries an item bank.
"""

from __future__ import annotations

import importlib
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from synthgrade.data.schema import ITEM_ID, ITEM_TEXT, REFERENCE, TEXT, WHERE, RowProblem, has_items, refuse_rows
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.io import atomic_directory, read_json, write_json
from synthgrade.modelcard import write_model_card

METADATA_FILE = "synthgrade.json"
#: What joins an item's wording and its reference answer into one context (scorers split on it again).
REFERENCE_MARK = " Reference: "
InputMode = Literal["response", "pair"]


class ItemEntry(BaseModel):
    item_text: str | None = None
    reference: str | None = None


class ModelInfo(BaseModel):
    """What ``synthgrade.json`` records about a saved scorer."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="transformer, static, tfidf, onnx, ...: picks the loader")
    labels: list[str]
    input_mode: InputMode = "response"
    max_length: int = 128
    item_bank: dict[str, ItemEntry] = Field(default_factory=dict)
    base_model: str | None = None
    ordinal: bool = False
    parameters: int | None = None
    #: Where the training rows came from: mix manifest, synthetic sets (generator, temperature, filter), teacher.
    provenance: dict[str, Any] = Field(default_factory=dict)
    #: Training arguments, curve and validation metrics (validation = human-coded, never test).
    training: dict[str, Any] = Field(default_factory=dict)
    #: Test-set results recorded by ``evaluate`` (metrics with CIs and the hash of the test set).
    evaluations: list[dict[str, Any]] = Field(default_factory=list)

    def save(self, directory: str | Path) -> None:
        """Write ``synthgrade.json`` and the model card rendered from it, so the two never disagree."""
        write_json(Path(directory) / METADATA_FILE, self.model_dump(mode="json"))
        write_model_card(directory, self)

    @classmethod
    def load(cls, directory: str | Path) -> ModelInfo:
        path = Path(directory) / METADATA_FILE
        if not path.exists():
            raise SynthgradeError(f"{directory}: not a synthgrade model directory (no {METADATA_FILE})")
        try:
            return cls.model_validate(read_json(path))
        except ValueError as exc:
            raise SynthgradeError(f"{path}: invalid model metadata ({str(exc).splitlines()[0]})") from None


#: What reading a saved model's own files raises when one is missing, truncated or edited by hand.
#: EOFError: numpy reading an empty (0-byte) file; click would take it for Ctrl-D and abort with exit 130.
MODEL_FILE_ERRORS: tuple[type[Exception], ...] = (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile)  # .npz are zips


@contextmanager
def reading_model_files(directory: Path, kind: str, errors: tuple[type[Exception], ...] = MODEL_FILE_ERRORS) -> Iterator[None]:
    """One clear error naming the directory and kind for a damaged model file, never a traceback."""
    try:
        yield
    except errors as exc:
        raise SynthgradeError(f"{directory}: damaged {kind} model files ({str(exc).splitlines()[0]})") from None


@contextmanager
def new_model_directory(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """A staging folder that replaces ``out`` only when everything was written (no partial models).

    An existing non-empty ``out`` is replaced only with ``overwrite`` and only if it is a model directory.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise SynthgradeError(f"{out}: already exists and is not empty; choose another --out or pass --overwrite")
        if not (out / METADATA_FILE).exists():
            raise SynthgradeError(f"{out}: not a model directory; refusing to replace it")
    with atomic_directory(out) as staging:
        yield staging


def item_bank_from(frame: pd.DataFrame) -> dict[str, ItemEntry]:
    """item_id -> (item_text, reference) from human rows, so later scoring needs only the item id."""
    if not has_items(frame):
        return {}
    bank: dict[str, ItemEntry] = {}
    columns = [c for c in (ITEM_TEXT, REFERENCE) if c in frame.columns]
    for item_id, group in frame.groupby(ITEM_ID, sort=True):
        values = {c: next((v for v in group[c] if isinstance(v, str) and v.strip()), None) for c in columns}
        bank[str(item_id)] = ItemEntry(**values)
    return bank


def choose_input_mode(requested: str, frame: pd.DataFrame) -> InputMode:
    """``auto`` means the (item_text + reference, response) pair when the data has item wording."""
    if requested not in {"auto", "response", "pair"}:
        raise ParameterError("input", f"must be auto, response or pair, got {requested!r}")
    has_context = any(c in frame.columns and frame[c].notna().any() for c in (ITEM_TEXT, REFERENCE))
    if requested == "pair" and not has_context:
        raise ParameterError("input", "pair needs item_text or reference columns (map them with --item-text-col/--reference-col)")
    if requested == "auto":
        return "pair" if has_context else "response"
    return requested  # type: ignore[return-value]


def item_context(item_text: str | None, reference: str | None) -> str:
    parts = [p.strip() for p in (item_text, reference) if isinstance(p, str) and p.strip()]
    return REFERENCE_MARK.join(parts)


def build_inputs(frame: pd.DataFrame, info: ModelInfo) -> tuple[list[str], list[str] | None, list[RowProblem]]:
    """Model inputs for each row: (first texts, second texts or None, problems for rows that cannot be scored).

    In pair mode the first text is the item context (wording + reference answer) and the second the
    response; the context comes from the row itself or, failing that, from the model's item bank.
    """
    if TEXT not in frame.columns:
        raise SynthgradeError("the data has no text column (map it with --text-col)")
    missing = [None] * len(frame)
    return inputs_from_columns(
        info,
        frame[TEXT].tolist(),
        frame[ITEM_ID].tolist() if ITEM_ID in frame.columns else missing,
        frame[ITEM_TEXT].tolist() if ITEM_TEXT in frame.columns else missing,
        frame[REFERENCE].tolist() if REFERENCE in frame.columns else missing,
        frame[WHERE].tolist() if WHERE in frame.columns else None,
    )


def inputs_from_columns(
    info: ModelInfo,
    texts: Sequence[Any],
    item_ids: Sequence[Any],
    item_texts: Sequence[Any],
    references: Sequence[Any],
    where: Sequence[str] | None = None,
) -> tuple[list[str], list[str] | None, list[RowProblem]]:
    """:func:`build_inputs` over plain columns (no table to build: the scoring service's hot path)."""
    problems: list[RowProblem] = []
    where = where if where is not None else [f"row {i + 1}" for i in range(len(texts))]
    cleaned = []
    for row, (loc, text) in enumerate(zip(where, texts, strict=True)):
        if not isinstance(text, str) or not text.strip():
            problems.append(RowProblem(row, loc, "empty or whitespace-only text"))
            cleaned.append("")
        else:
            cleaned.append(text)
    if info.input_mode == "response":
        return cleaned, None, problems
    contexts = []
    for row, (loc, item_id, item_text, reference) in enumerate(zip(where, item_ids, item_texts, references, strict=True)):
        context = item_context(item_text, reference)
        if not context:
            entry = info.item_bank.get(str(item_id)) if isinstance(item_id, str) and item_id else None
            if entry is None:
                known = "no item_id" if not isinstance(item_id, str) or not item_id else f"unknown item_id '{item_id}'"
                needs = "this model scores (item, response) pairs and needs a known item or its wording"
                problems.append(RowProblem(row, loc, f"{known}; {needs}"))
            else:
                context = item_context(entry.item_text, entry.reference)
        contexts.append(context)
    return contexts, cleaned, problems


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


def length_order(first: Sequence[str], second: Sequence[str] | None) -> np.ndarray:
    """Indices sorted by input length, so batches pad little (the order is undone after scoring)."""
    lengths = [len(a) + (len(second[i]) if second is not None else 0) for i, a in enumerate(first)]
    return np.argsort(lengths, kind="stable")


#: Share of a chunk's token slots that may be padding when rows of similar length are grouped.
MAX_PADDING_SHARE = 0.1


def similar_length_chunks(lengths: Sequence[int], max_rows: int, max_padding: float = MAX_PADDING_SHARE) -> list[np.ndarray]:
    """Row indices grouped into chunks of at most ``max_rows`` rows of similar token length.

    A chunk is padded to its longest row; it takes the next longest row only while padding stays
    within ``max_padding`` of its token slots. On a CPU a padded slot costs as much as a real token
    and a model call's fixed cost is small, so merged rows padded to the longest one cost more than
    they save (an ONNX int8 MiniLM scored 8 length-sorted SciEntsBank pairs at 3.1 ms a row, one
    at a time at 2.5 ms).
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    chunks: list[np.ndarray] = []
    start, tokens = 0, 0
    for position, index in enumerate(order):
        length = int(lengths[index])  # the longest so far in this chunk (ascending order)
        rows = position - start + 1
        if rows > 1 and (rows > max_rows or length * rows - (tokens + length) > max_padding * length * rows):
            chunks.append(order[start:position])
            start, tokens = position, 0
        tokens += length
    if len(order):
        chunks.append(order[start:])
    return chunks


def padded_arrays(
    encoded: Any, index: Sequence[int], names: Sequence[str], pad_id: int, left: bool = False
) -> dict[str, np.ndarray]:
    """The rows ``index`` of an unpadded tokenizer output as int64 arrays padded to their longest row."""
    ids = encoded["input_ids"]
    width = max(len(ids[i]) for i in index)
    arrays = {}
    for name in names:
        values = encoded[name]
        array = np.full((len(index), width), pad_id if name == "input_ids" else 0, dtype=np.int64)
        for row, i in enumerate(index):
            sequence = values[i]
            if left:
                array[row, width - len(sequence) :] = sequence
            else:
                array[row, : len(sequence)] = sequence
        arrays[name] = array
    return arrays


@dataclass(frozen=True)
class ScorerKind:
    """One row of the kind table: where the class lives and whether ``train`` can fit it."""

    #: "module:Class" of the :class:`Scorer`; imported only when asked for, so stages stay independent.
    target: str
    #: True for a ``TrainableScorer`` that ``train --model`` can fit; False for kinds that are only
    #: written by a later stage (a distilled student, an ONNX export, an LLM grader) and loaded back.
    trainable: bool = True


#: The one table of scorer kinds: the ``kind`` in ``synthgrade.json`` -> its class. ``load_scorer`` opens any
#: of them; ``train`` fits the trainable ones, and a ``--model`` spec goes to the first trainable kind that
#: accepts it (``DEFAULT_KIND`` takes the rest). ``register_kind`` adds a kind from outside the package.
SCORER_KINDS: dict[str, ScorerKind] = {
    "tfidf": ScorerKind("synthgrade.scorers.tfidf:TfidfScorer"),
    "lexical": ScorerKind("synthgrade.scorers.lexical:LexicalScorer"),
    "hybrid": ScorerKind("synthgrade.scorers.hybrid:HybridScorer"),
    "ensemble": ScorerKind("synthgrade.scorers.ensemble:EnsembleScorer"),
    "transformer": ScorerKind("synthgrade.scorers.transformer.modeling:TransformerScorer"),
    "static": ScorerKind("synthgrade.distill.students:StaticScorer", trainable=False),
    "onnx": ScorerKind("synthgrade.export:OnnxScorer", trainable=False),
    "llm": ScorerKind("synthgrade.filter.llm:LLMGraderScorer", trainable=False),
}
#: Any spec no other trainable kind accepts is an encoder (registry name, folder or hub id) to fine-tune.
DEFAULT_KIND = "transformer"
#: Spec prefix -> "module:function" for scorers that are not directories (``llm:openai:gpt-4o``).
#: The function is called as ``function(spec, **context)``; context carries e.g. ``labels`` and ``examples``.
SPEC_LOADERS: dict[str, str] = {
    "llm": "synthgrade.filter.llm:grader_from_spec",
}


def register_kind(kind: str, target: str, trainable: bool = True) -> None:
    """Add (or replace) a kind: ``target`` is the ``"module:Class"`` of its :class:`Scorer`."""
    SCORER_KINDS[kind] = ScorerKind(target, trainable)


def trainable_kinds() -> list[str]:
    """The kinds ``train`` can fit, in the order specs are offered to them."""
    return [kind for kind, entry in SCORER_KINDS.items() if entry.trainable]


def import_target(target: str) -> Any:
    """The object named by ``"module:name"``."""
    module_name, _, name = target.partition(":")
    return getattr(importlib.import_module(module_name), name)


def scorer_class_of(kind: str, trainable: bool = False) -> type[Scorer]:
    """The class of a kind in :data:`SCORER_KINDS` (only trainable kinds when ``trainable``)."""
    entry = SCORER_KINDS.get(kind)
    if entry is None or (trainable and not entry.trainable):
        known = trainable_kinds() if trainable else list(SCORER_KINDS)
        raise SynthgradeError(f"unknown scorer kind '{kind}'; known kinds: {', '.join(sorted(known))}")
    cls = import_target(entry.target)
    if not (isinstance(cls, type) and issubclass(cls, Scorer)):
        raise SynthgradeError(f"scorer kind '{kind}' ({entry.target}) is not a Scorer")
    return cls


def load_scorer(path_or_spec: str | Path, **context: Any) -> Scorer:
    """Open any model this tool saved (or a spec such as ``llm:local:smollm2-135m``) as a :class:`Scorer`.

    ``context`` is passed to spec loaders only (an LLM grader needs the label list and few-shot examples).
    """
    text = str(path_or_spec)
    prefix = text.split(":", 1)[0]
    if prefix in SPEC_LOADERS and not Path(text).exists():
        return import_target(SPEC_LOADERS[prefix])(text, **context)
    directory = Path(text)
    if not directory.is_dir():
        raise SynthgradeError(f"{text}: no such model directory")
    info = ModelInfo.load(directory)
    if info.kind not in SCORER_KINDS:
        raise SynthgradeError(f"{directory}: unknown model kind '{info.kind}' in {METADATA_FILE}")
    return scorer_class_of(info.kind).from_pretrained(directory)
