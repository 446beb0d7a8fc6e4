"""The scorer kinds that ``train`` can fit, by name: a new kind is one module and one line in :data:`KINDS`."""

from __future__ import annotations

import importlib

from synthgrade.errors import SynthgradeError
from synthgrade.scorers.base import TrainableScorer

#: kind -> "module:Class" of its :class:`TrainableScorer`, imported only when asked for. The specs of
#: ``train --model`` go to the first kind that accepts them, the default kind takes all the others.
KINDS: dict[str, str] = {
    "tfidf": "synthgrade.scorers.tfidf:TfidfScorer",
    "lexical": "synthgrade.scorers.lexical:LexicalScorer",
    "hybrid": "synthgrade.scorers.hybrid:HybridScorer",
    "ensemble": "synthgrade.scorers.ensemble:EnsembleScorer",
    "transformer": "synthgrade.scorers.transformer.modeling:TransformerScorer",
}
#: Any spec no other kind accepts is an encoder (registry name, folder or hub id) to fine-tune.
DEFAULT_KIND = "transformer"


def register(kind: str, target: str) -> None:
    """Add (or replace) a kind: ``target`` is the ``"module:Class"`` of its :class:`TrainableScorer`."""
    KINDS[kind] = target


def scorer_class(kind: str) -> type[TrainableScorer]:
    """The class of a registered kind."""
    target = KINDS.get(kind)
    if target is None:
        raise SynthgradeError(f"unknown scorer kind '{kind}'; known kinds: {', '.join(sorted(KINDS))}")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, TrainableScorer)):
        raise SynthgradeError(f"scorer kind '{kind}' ({target}) is not a TrainableScorer")
    return cls


def kind_for(spec: str) -> type[TrainableScorer]:
    """The kind that trains the model spec ``spec`` (``tfidf``, ``hybrid:minilm-l6``, ``minilm-l6``, a folder)."""
    for kind in KINDS:
        if kind != DEFAULT_KIND and scorer_class(kind).accepts(spec):
            return scorer_class(kind)
    return scorer_class(DEFAULT_KIND)
