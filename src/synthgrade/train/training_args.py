"""All knobs of a training run in one dataclass (the SetFit / transformers ``TrainingArguments`` pattern)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthgrade.errors import SynthgradeError


@dataclass
class TrainingArguments:
    """How to fine-tune a scorer. Every field has a sensible CPU default.

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
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if self.input not in {"auto", "response", "pair"}:
            problems.append(f"--input must be auto, response or pair, got {self.input!r}")
        if self.max_length is not None and self.max_length < 8:
            problems.append(f"--max-length must be at least 8, got {self.max_length}")
        if self.epochs < 1:
            problems.append(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            problems.append(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.lr is not None and not self.lr > 0:
            problems.append(f"--lr must be positive, got {self.lr}")
        if self.patience < 0:
            problems.append(f"--patience must be 0 or more, got {self.patience}")
        if self.time_budget is not None and not self.time_budget > 0:
            problems.append(f"--time-budget must be positive, got {self.time_budget}")
        if self.min_steps < 0:
            problems.append(f"--min-steps must be 0 or more, got {self.min_steps}")
        if not self.synthetic_weight > 0:
            problems.append(f"--synthetic-weight must be positive, got {self.synthetic_weight}")
        if self.eval_steps is not None and self.eval_steps < 1:
            problems.append(f"--eval-steps must be at least 1, got {self.eval_steps}")
        if problems:
            raise SynthgradeError(problems[0], problems)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cache_dir"] = str(self.cache_dir) if self.cache_dir else None
        data.pop("show_progress", None)
        return data
