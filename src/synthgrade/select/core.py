"""``select_rows``: the next pool rows to code, ranked, with why each was picked and the current model's guess."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.data import label_indices, label_order
from synthgrade.data.schema import LABEL, TEXT
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.modeling import Scorer
from synthgrade.models import DEFAULT_ENCODER
from synthgrade.select.model import can_fit, fit_guess_model, scorer_spec
from synthgrade.select.pool import candidate_rows, check_exclusions, item_keys
from synthgrade.select.strategies import DEFAULT_STRATEGY, STRATEGIES, SelectionPool
from synthgrade.select.vectors import response_vectors

OUTPUT_COLUMNS = ("rank", "reason", "guess", "guess_confidence")


def coded_labels(coded: pd.DataFrame | None, labels: Sequence[str] | None) -> list[str]:
    """The label set: ``labels`` when given (a coded label outside it is an error naming the row), else the coded ones."""
    observed = [] if coded is None or LABEL not in coded.columns else [str(v) for v in coded[LABEL].dropna()]
    if labels is not None and coded is not None and len(coded) and LABEL in coded.columns:
        label_indices(coded, list(labels))  # raises on the first row whose label is not declared
    return label_order(observed, labels)


def select_rows(
    pool: pd.DataFrame,
    coded: pd.DataFrame | None,
    n: int,
    *,
    labels: list[str] | None = None,
    strategy: str = DEFAULT_STRATEGY,
    encoder: str = DEFAULT_ENCODER,
    seed: int = 0,
    exclude: Sequence[pd.DataFrame] = (),
    model: Scorer | str | None = None,
    disk_cache: bool = True,
) -> pd.DataFrame:
    """The ``n`` pool rows to code next, best first: the pool's columns plus ``rank``, ``reason``, ``guess`` and
    ``guess_confidence``.

    Rows already in ``coded`` (same id, or same item and normalised text), repeats of a text within an item and
    empty texts are never proposed; a pool sharing rows with an ``exclude`` table (validation or test data) is
    refused. ``model``: a scorer already fitted on ``coded`` (used as is), a model spec to fit on ``coded``
    (``hybrid:<encoder>``; ``tfidf`` is not accepted), or None for ``hybrid:<encoder>``.
    No model is fitted while fewer than two labels have 3 coded rows each: the picks are then cold-start ones
    and ``guess`` is empty. The summary (rows set aside, model used) is in ``result.attrs["select"]``.
    """
    if strategy not in STRATEGIES:
        raise ParameterError("strategy", f"must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if n < 1:
        raise ParameterError("n", f"must be at least 1, got {n}")
    check_exclusions(pool, exclude)
    labels = coded_labels(coded, labels)
    candidates = candidate_rows(pool, coded)
    if n > len(candidates.frame):
        aside = ", ".join(f"{count} {reason}" for reason, count in candidates.set_aside.items() if count)
        left = f"is {n}, more than the {len(candidates.frame)} pool rows left to propose"
        raise ParameterError("n", left + (f" ({aside} set aside)" if aside else ""))
    coded = coded if coded is not None else pool.iloc[:0]
    texts = candidates.frame[TEXT].astype(str).tolist()
    coded_texts = coded[TEXT].astype(str).tolist()
    vectors = response_vectors(texts + coded_texts, encoder, use_disk=disk_cache)
    scorer, model_note = _guess_model(coded, labels, model, encoder, seed)
    proba = scorer.predict_proba(candidates.frame) if scorer is not None else None
    has_labels = len(coded) and LABEL in coded.columns
    state = SelectionPool(
        vectors=vectors[: len(texts)],
        items=candidates.items,
        coded_vectors=vectors[len(texts) :],
        coded_items=np.asarray(item_keys(coded), dtype=object),
        coded_labels=label_indices(coded, labels, allow_missing=True) if has_labels else np.full(len(coded), -1),
        labels=labels,
        proba=proba,
        seed=seed,
    )
    ranking = STRATEGIES[strategy]().rank(state, n)
    out = candidates.frame.iloc[ranking.order].reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out["reason"] = ranking.reasons
    if proba is not None:
        chosen = proba[ranking.order]
        out["guess"] = [labels[i] for i in chosen.argmax(axis=1)]
        out["guess_confidence"] = chosen.max(axis=1).round(4)
    else:
        out["guess"] = ""
        out["guess_confidence"] = np.nan
    out.attrs["select"] = {
        "strategy": strategy,
        "pool_rows": len(pool),
        "candidates": len(candidates.frame),
        "set_aside": candidates.set_aside,
        "coded_rows": len(coded),
        "labels": labels,
        "model": model_note,
    }
    return out


def _guess_model(
    coded: pd.DataFrame, labels: list[str], model: Scorer | str | None, encoder: str, seed: int
) -> tuple[Scorer | None, Any]:
    """(the scorer behind guesses and uncertainty, or None at cold start; what it is, for the summary)."""
    if isinstance(model, Scorer):
        return model, model.info.base_model or model.info.kind
    if not can_fit(coded, labels):
        return None, None
    spec = model or scorer_spec(encoder, len(coded))
    if spec.startswith("tfidf"):
        raise ParameterError("model", "selection ranks with the frozen-encoder hybrid's probabilities; use hybrid:<encoder> here")
    try:
        return fit_guess_model(coded, labels, spec, seed), spec
    except SynthgradeError as exc:
        raise SynthgradeError(f"cannot fit the guess model on the coded rows: {exc}") from None
