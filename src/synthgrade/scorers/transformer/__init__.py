"""The ``transformer`` kind, SetFit's layout: ``modeling`` (the scorer), ``trainer`` (its fit loop),
``network`` (the encoder with a fresh head), ``data`` (tokenised, length-bucketed batches)."""

from synthgrade.scorers.transformer.modeling import TransformerScorer
from synthgrade.scorers.transformer.network import count_parameters, load_classifier
from synthgrade.scorers.transformer.trainer import TransformerTrainer

__all__ = ["TransformerScorer", "TransformerTrainer", "count_parameters", "load_classifier"]
