"""The scorer family: every kind ``train`` can fit, behind one protocol and one registry.

* :class:`TrainableScorer` (``scorers/base.py``): ``fit`` / ``predict_proba`` / ``save_pretrained`` /
  ``from_pretrained``, the same for every kind;
* :mod:`synthgrade.scorers.registry`: kind names -> classes, and which kind trains a ``--model`` spec;
* the kinds: ``tfidf`` (``tfidf.py``), ``lexical`` (``lexical.py``: the strong lexical recipe), ``hybrid``
  (``hybrid/``: frozen encoder + lexical features) and
  ``transformer`` (``transformer/``: the fine-tuned encoder with its trainer, one concept per module);
* :class:`TrainingArguments`: the knobs every kind reads.

A new kind is a module with a :class:`TrainableScorer` subclass and one line in the one kind table,
``synthgrade.modeling.SCORER_KINDS`` (``train`` fits it, ``load_scorer`` opens its saved directories).
"""

from synthgrade.scorers.base import TrainableScorer
from synthgrade.scorers.registry import SCORER_KINDS, kind_for, register, scorer_class, trainable_kinds
from synthgrade.scorers.training_args import TrainingArguments

__all__ = ["SCORER_KINDS", "TrainableScorer", "TrainingArguments", "kind_for", "register", "scorer_class", "trainable_kinds"]
