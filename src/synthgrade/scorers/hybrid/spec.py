"""The hybrid kind's names and small helpers: its spec (``hybrid:<encoder>``), the encoder's name, the parts of a
pair-mode context, and the logistic regression every hybrid model fits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthgrade.errors import SynthgradeError
from synthgrade.models import DEFAULT_ENCODER
from synthgrade.scorers import cv

KIND = "hybrid"


def default_hybrid_encoder() -> str:
    """mpnet-base where its packages are installed (``make setup`` does), else MiniLM."""
    from synthgrade.models import assembly_installed

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


def rows_by_key(keys: Sequence[str]) -> dict[str, list[int]]:
    """Row indices per key (item), in row order."""
    out: dict[str, list[int]] = {}
    for row, key in enumerate(keys):
        out.setdefault(key, []).append(row)
    return out


def logistic(class_weight: str | None = None) -> Any:
    """The logistic regression every hybrid model fits (C is chosen by cross-validation)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=3000, class_weight=class_weight)


def log_proba(classifier: Any, matrix: Any, num_labels: int) -> np.ndarray:
    """Clipped log-probabilities over all labels (the form the heads stack)."""
    return np.log(np.clip(cv.label_proba(classifier, matrix, num_labels), 1e-4, 1.0))
