"""All knobs of a training run in one dataclass (the SetFit / transformers ``TrainingArguments`` pattern).

Every scorer kind reads it (the fine-tuning fields matter only to the ``transformer`` kind); build one from a
config section or a saved record with :meth:`TrainingArguments.from_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Self

from synthgrade.errors import ParameterError, SynthgradeError


@dataclass
class TrainingArguments:
    """How to fit a scorer. Every field has a sensible CPU default; a bad value raises a ParameterError naming it.

    ``model`` is ``auto`` (train the candidates that fit ``time_budget`` and keep the one human validation
    prefers), a registry name (``minilm-l6``, ``mpnet-base``), a local folder or hub id of any transformers
    encoder to fine-tune, ``hybrid`` / ``hybrid:<encoder>`` (frozen encoder + lexical features), or
    ``tfidf`` for the TF-IDF + logistic regression baseline. Selection (early stopping, the checkpoint
    kept, the candidate ``auto`` ships) uses the human-coded validation split only.
    """

    model: str = "auto"
    input: str = "auto"  # auto | response | pair
    max_length: int = 128
    epochs: int = 3
    lr: float = 5e-5
    batch_size: int = 16
    eval_batch_size: int = 64
    seed: int = 0
    class_weights: bool = False
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    #: Stop after this many validation checks without a better validation macro-F1 (0 = never stop early).
    patience: int = 2
    #: Validate every N optimiser steps as well as at the end of each epoch (None = once per epoch).
    eval_steps: int | None = None
    #: Batches drawn from one length bucket: larger = less padding, smaller = more shuffling.
    bucket_batches: int = 50
    labels: list[str] | None = None
    ordinal: bool = False
    show_progress: bool = True
    #: Folder for cached tokenisations (None = in-memory cache only).
    cache_dir: Path | None = None
    #: ``auto`` only: seconds for all candidates together (None = 20 minutes); a candidate that would overrun is skipped.
    time_budget: float | None = None
    #: ``auto`` only: candidate specs, cheapest first (None = synthgrade.train.auto.DEFAULT_CANDIDATES).
    candidates: list[str] | None = None
    #: Fine-tuning: at least this many optimiser steps; small sets get more epochs (1-epoch sets of thousands of rows do not).
    min_steps: int = 0
    #: Sample weight of each synthetic training row relative to a human row (1 = count them alike).
    synthetic_weight: float = 1.0

    def __post_init__(self) -> None:
        problem = next(((name, text) for name, bad, text in self._checks() if bad), None)
        if problem is not None:
            raise ParameterError(*problem)

    def _checks(self) -> list[tuple[str, bool, str]]:
        """(parameter, is it bad, what is wrong) for every rule on the fields; the first bad one is raised."""
        return [
            ("input", self.input not in {"auto", "response", "pair"}, f"must be auto, response or pair, got {self.input!r}"),
            ("max_length", self.max_length is not None and self.max_length < 8, f"must be at least 8, got {self.max_length}"),
            ("epochs", self.epochs < 1, f"must be at least 1, got {self.epochs}"),
            ("batch_size", self.batch_size < 1, f"must be at least 1, got {self.batch_size}"),
            ("eval_batch_size", self.eval_batch_size < 1, f"must be at least 1, got {self.eval_batch_size}"),
            ("lr", self.lr is not None and not self.lr > 0, f"must be positive, got {self.lr}"),
            ("patience", self.patience < 0, f"must be 0 or more, got {self.patience}"),
            (
                "time_budget",
                self.time_budget is not None and not self.time_budget > 0,
                f"must be positive, got {self.time_budget}",
            ),
            ("min_steps", self.min_steps < 0, f"must be 0 or more, got {self.min_steps}"),
            ("synthetic_weight", not self.synthetic_weight > 0, f"must be positive, got {self.synthetic_weight}"),
            ("eval_steps", self.eval_steps is not None and self.eval_steps < 1, f"must be at least 1, got {self.eval_steps}"),
        ]

    @classmethod
    def from_dict(cls, arguments: Mapping[str, Any], ignore_extra: bool = False, **overrides: Any) -> Self:
        """Arguments from a mapping (a config section, a saved ``to_dict``), ``overrides`` taking precedence.

        A key that is no field is an error naming it, unless ``ignore_extra`` (then it is dropped).
        """
        names = {f.name for f in fields(cls)}
        values = dict(arguments) | overrides
        extra = sorted(set(values) - names)
        if extra and not ignore_extra:
            raise SynthgradeError(f"unknown training argument(s) {', '.join(extra)}; known: {', '.join(sorted(names))}")
        values = {key: value for key, value in values.items() if key in names}
        if values.get("cache_dir") is not None:
            values["cache_dir"] = Path(values["cache_dir"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cache_dir"] = str(self.cache_dir) if self.cache_dir else None
        data.pop("show_progress", None)
        return data
