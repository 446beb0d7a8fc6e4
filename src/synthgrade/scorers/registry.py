"""Which trainable kind fits a ``--model`` spec. The kinds themselves are one table,
:data:`synthgrade.modeling.SCORER_KINDS`, shared with ``load_scorer``: a new kind is one module and one
line there (or :func:`register` from outside the package)."""

from __future__ import annotations

from typing import cast

from synthgrade.errors import SynthgradeError
from synthgrade.modeling import DEFAULT_KIND, SCORER_KINDS, register_kind, scorer_class_of, trainable_kinds
from synthgrade.scorers.base import TrainableScorer

__all__ = ["DEFAULT_KIND", "SCORER_KINDS", "kind_for", "register", "scorer_class", "trainable_kinds"]


def register(kind: str, target: str) -> None:
    """Add (or replace) a trainable kind: ``target`` is the ``"module:Class"`` of its :class:`TrainableScorer`.

    ``train`` fits it and ``load_scorer`` opens the directories it saves, from the same table row.
    """
    register_kind(kind, target, trainable=True)


def scorer_class(kind: str) -> type[TrainableScorer]:
    """The class of a trainable kind."""
    cls = scorer_class_of(kind, trainable=True)
    if not issubclass(cls, TrainableScorer):
        raise SynthgradeError(f"scorer kind '{kind}' ({cls.__module__}:{cls.__name__}) is not a TrainableScorer")
    return cast(type[TrainableScorer], cls)


def kind_for(spec: str) -> type[TrainableScorer]:
    """The kind that trains the model spec ``spec`` (``tfidf``, ``hybrid:minilm-l6``, ``minilm-l6``, a folder)."""
    for kind in trainable_kinds():
        if kind != DEFAULT_KIND and scorer_class(kind).accepts(spec):
            return scorer_class(kind)
    return scorer_class(DEFAULT_KIND)
