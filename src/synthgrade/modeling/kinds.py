"""The one table of scorer kinds, and ``load_scorer``, which opens any saved model through it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthgrade.errors import SynthgradeError
from synthgrade.modeling.info import METADATA_FILE, ModelInfo
from synthgrade.modeling.scorer import Scorer


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
