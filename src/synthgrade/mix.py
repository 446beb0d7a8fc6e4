"""Mixing human-coded and synthetic rows into one training set at a chosen synthetic share.

Two modes (both deterministic given ``seed``):

* ``addon`` (the paper's setting): every human row is kept and synthetic rows are added until they make
  up ``ratio`` of the total, i.e. ``round(ratio * H / (1 - ratio))`` synthetic rows for ``H`` human rows.
* ``fixed-total``: exactly ``total`` rows, ``round(ratio * total)`` of them synthetic, the rest human.

``human_budget`` first subsamples the human rows (stratified by label, so a budget study keeps the label
balance). Synthetic rows are drawn per label so that their label proportions follow the human rows used.
Asking for more synthetic rows of a label than exist is an error, never a silent shortfall. The manifest
lists the exact ids used so a run can be reproduced and audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from synthgrade.data import SYNTHETIC, is_synthetic
from synthgrade.data.schema import ID, LABEL, WHERE, label_order
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.io import stable_hash

MixMode = Literal["addon", "fixed-total"]
#: Provenance columns that synthetic rows carry (generation, then filtering); summarised per source.
SOURCE_COLUMNS = ("backend", "model", "temperature", "top_p", "prompt_hash", "strategy", "filter_method")


@dataclass
class MixResult:
    """The mixed training rows (``synthetic`` column marks the source) and the manifest describing them."""

    frame: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingRows:
    """How each training row counts: its sample ``weight`` (human 1, synthetic ``synthetic_weight``), the
    ``source`` group it shares with rows derived from the same human response (a paraphrase and its source
    must not sit on both sides of a cross-validation fold or find each other as neighbours), and whether
    it is ``human`` (only human rows are scored when a model cross-validates its settings)."""

    weight: np.ndarray
    source: list[str]
    human: np.ndarray

    @property
    def has_synthetic(self) -> bool:
        return not bool(self.human.all())


def training_rows(frame: pd.DataFrame, synthetic_weight: float = 1.0) -> TrainingRows:
    """:class:`TrainingRows` of a (mixed) training table, in row order."""
    if not synthetic_weight > 0:
        raise ParameterError("synthetic_weight", f"must be positive, got {synthetic_weight}")
    human = ~is_synthetic(frame).to_numpy()
    ids = frame[ID].astype(str).tolist() if ID in frame.columns else [f"row{i}" for i in range(len(frame))]
    sources = frame["source_id"].tolist() if "source_id" in frame.columns else [None] * len(frame)
    source = [
        str(src) if not is_human and isinstance(src, str) and src else row_id
        for row_id, src, is_human in zip(ids, sources, human, strict=True)
    ]
    weight = np.where(human, 1.0, float(synthetic_weight))
    return TrainingRows(weight=weight, source=source, human=human)


def allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder, ties by order)."""
    weights_arr = np.asarray(weights, dtype=float)
    if total <= 0 or weights_arr.sum() <= 0:
        return [0] * len(weights_arr)
    exact = weights_arr / weights_arr.sum() * total
    parts = np.floor(exact).astype(int)
    remainder = total - int(parts.sum())
    order = np.argsort(-(exact - parts), kind="stable")
    parts[order[:remainder]] += 1
    return parts.tolist()


def feasible_total(human: pd.DataFrame, synthetic: pd.DataFrame, ratio: float, total: int) -> int | None:
    """The largest fixed total, at most ``total``, whose synthetic part ``synthetic`` can supply label by label.

    Follows :func:`mix_training_set` in fixed-total mode: ``round(ratio * n)`` synthetic rows,
    split over the labels in proportion to the human rows used (:func:`allocate`). ``None``
    when no total with at least one synthetic row fits (or ``ratio`` is 0, where nothing needs supplying).
    """
    labels = label_order(human[LABEL].dropna().unique())
    pool = [int((human[LABEL] == label).sum()) for label in labels]
    have = [int((synthetic[LABEL] == label).sum()) for label in labels]
    for candidate in range(total, 0, -1):
        n_synthetic = int(round(ratio * candidate))
        if n_synthetic == 0:
            return None  # smaller totals need no synthetic rows at all: nothing left to keep the share with
        n_human = candidate - n_synthetic
        if n_human > len(human):
            return None  # short of human rows, not synthetic ones: shrinking is not the answer (mixing says why)
        human_counts = allocate(n_human, pool) if n_human else pool
        if all(want <= got for want, got in zip(allocate(n_synthetic, human_counts), have, strict=True)):
            return candidate
    return None


def stratified_sample(frame: pd.DataFrame, n: int, rng: np.random.Generator, labels: Sequence[str]) -> pd.DataFrame:
    """``n`` rows whose label shares follow ``frame``'s (within one row per label)."""
    if n > len(frame):
        raise SynthgradeError(f"cannot take {n} human rows: only {len(frame)} are available")
    counts = [int((frame[LABEL] == label).sum()) for label in labels]
    wanted = allocate(n, counts)
    parts = []
    for label, take in zip(labels, wanted, strict=True):
        pool = frame.index[frame[LABEL] == label].to_numpy()
        parts.append(pool[rng.permutation(len(pool))[:take]])
    chosen = np.concatenate(parts) if parts else np.array([], dtype=int)
    return frame.loc[np.sort(chosen)]


def synthetic_sources(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per synthetic source (generator backend/model/temperature/filter) with its row count."""
    synthetic = frame[is_synthetic(frame)]
    if synthetic.empty:
        return []
    columns = [c for c in SOURCE_COLUMNS if c in synthetic.columns]
    filtered = "filter_label" in synthetic.columns
    if not columns:
        return [{"rows": int(len(synthetic)), "filtered": filtered}]
    keys = synthetic[columns].astype(object).where(synthetic[columns].notna(), None)
    sources = []
    for values, group in keys.groupby(columns, dropna=False, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        entry = {c: (None if v is None or v != v else v) for c, v in zip(columns, values, strict=True)}
        entry["rows"] = int(len(group))
        entry["filtered"] = filtered
        sources.append(entry)
    return sources


class SyntheticShortfall(SynthgradeError):
    """The requested share needs more synthetic rows of some label than exist (a caller may retry smaller).

    Not a :class:`ParameterError`: the data falls short, whichever parameter the caller changes to fix it.
    """


def mix_training_set(
    human: pd.DataFrame,
    synthetic: pd.DataFrame | None = None,
    ratio: float = 0.0,
    mode: MixMode | str = "addon",
    total: int | None = None,
    human_budget: int | None = None,
    seed: int = 0,
) -> MixResult:
    """Build the training rows: human rows (optionally a stratified budget) plus synthetic rows at share ``ratio``."""
    _check_inputs(human, synthetic, ratio, mode)
    rng = np.random.default_rng(seed)
    labels = label_order(human[LABEL].dropna().unique())
    human_pool = _budget_rows(human, human_budget, rng, labels)
    human_used, n_synthetic = _human_rows_and_synthetic_count(human_pool, ratio, mode, total, human_budget, rng, labels)
    # Synthetic label shares follow the human rows in use (ratio 1 in fixed-total mode: the human pool's).
    counts = [int((human_used[LABEL] == label).sum()) for label in labels]
    if n_synthetic > 0 and sum(counts) == 0:
        counts = [int((human_pool[LABEL] == label).sum()) for label in labels]
    wanted = allocate(n_synthetic, counts)
    synthetic_used = _draw_synthetic(synthetic, n_synthetic, wanted, ratio, rng, labels)
    if synthetic_used is None:
        synthetic_used = human.iloc[0:0]
    # Labels the human rows do not have (only counted when synthetic rows were asked for).
    offered = synthetic[LABEL].value_counts().items() if n_synthetic and synthetic is not None else []
    unused = {str(label): int(count) for label, count in offered if label not in set(labels)}
    human_part = human_used.assign(**{SYNTHETIC: False})
    synthetic_part = synthetic_used.assign(**{SYNTHETIC: True})
    parts = [p for p in (human_part, synthetic_part) if not p.empty]
    mixed = pd.concat(parts, ignore_index=True) if parts else human_part
    mixed = mixed.iloc[rng.permutation(len(mixed))].reset_index(drop=True)
    mixed[SYNTHETIC] = mixed[SYNTHETIC].astype(bool)
    settings = {"mode": mode, "ratio": ratio, "total": total, "human_budget": human_budget, "seed": seed, "labels": labels}
    return MixResult(mixed, _manifest(settings, mixed, human, synthetic, human_used, synthetic_used, unused))


def _check_inputs(human: pd.DataFrame, synthetic: pd.DataFrame | None, ratio: float, mode: str) -> None:
    if not 0.0 <= ratio <= 1.0:
        raise ParameterError("ratio", f"must be between 0 and 1, got {ratio}")
    if mode not in ("addon", "fixed-total"):
        raise ParameterError("mode", f"must be 'addon' or 'fixed-total', got {mode!r}")
    if is_synthetic(human).any():
        first = human.loc[is_synthetic(human)].iloc[0]
        where = first.get(WHERE, f"id {first.get(ID)}")
        raise ParameterError("human", f"contains synthetic rows ({where}); pass those as the synthetic rows")
    if human.empty:
        raise SynthgradeError("the human-coded training data has no rows")
    for name, frame in (("human", human), ("synthetic", synthetic)):
        if frame is not None and ID in frame.columns and frame[ID].duplicated().any():
            dup = frame.loc[frame[ID].duplicated(), ID].iloc[0]
            raise SynthgradeError(f"the {name} rows use id '{dup}' more than once; ids must be unique to write a manifest")


def _budget_rows(human: pd.DataFrame, budget: int | None, rng: np.random.Generator, labels: list[str]) -> pd.DataFrame:
    """The human rows to draw from: all of them, or a stratified sample of ``budget`` rows."""
    if budget is None:
        return human
    if budget <= 0:
        raise ParameterError("human_budget", f"must be positive, got {budget}")
    if budget > len(human):
        raise ParameterError("human_budget", f"{budget} is more than the {len(human)} human rows available")
    return stratified_sample(human, budget, rng, labels)


def _human_rows_and_synthetic_count(
    pool: pd.DataFrame,
    ratio: float,
    mode: str,
    total: int | None,
    human_budget: int | None,
    rng: np.random.Generator,
    labels: list[str],
) -> tuple[pd.DataFrame, int]:
    """The human rows used and how many synthetic rows join them, by the rule of ``mode``."""
    if mode == "addon":
        if total is not None:
            raise ParameterError("total", "only applies to the fixed-total mode")
        if ratio >= 1.0:
            raise ParameterError("ratio", "1 in addon mode would need infinitely many synthetic rows; use the fixed-total mode")
        return pool, int(round(ratio * len(pool) / (1.0 - ratio)))
    if total is None or total <= 0:
        raise ParameterError("total", f"must be a positive number of rows in the fixed-total mode, got {total}")
    n_synthetic = int(round(ratio * total))
    n_human = total - n_synthetic
    if n_human > len(pool):
        within = " within the human budget" if human_budget is not None else ""
        problem = f"{total} at ratio {ratio} needs {n_human} human rows, only {len(pool)} are available{within}"
        raise ParameterError("total", problem)
    return (stratified_sample(pool, n_human, rng, labels) if n_human < len(pool) else pool), n_synthetic


def _draw_synthetic(
    synthetic: pd.DataFrame | None,
    n_synthetic: int,
    wanted: list[int],
    ratio: float,
    rng: np.random.Generator,
    labels: list[str],
) -> pd.DataFrame | None:
    """``wanted[i]`` random synthetic rows of ``labels[i]`` (None when no rows are drawn); never fewer."""
    if n_synthetic == 0:
        return None
    if synthetic is None or synthetic.empty:
        problem = f"has no rows: ratio {ratio} needs {n_synthetic} synthetic rows but no synthetic data was given"
        raise ParameterError("synthetic", problem)
    parts, short = [], []
    for label, take in zip(labels, wanted, strict=True):
        pool = synthetic.index[synthetic[LABEL] == label].to_numpy()
        if take > len(pool):
            short.append(f"label '{label}' needs {take}, has {len(pool)}")
            continue
        parts.append(pool[rng.permutation(len(pool))[:take]])
    if short:
        raise SyntheticShortfall(
            f"not enough synthetic rows for ratio {ratio} ({n_synthetic} needed): "
            + "; ".join(short)
            + " (generate more, lower the ratio, or use the fixed-total mode with a smaller total)"
        )
    return synthetic.loc[np.sort(np.concatenate(parts))] if parts else None


def _manifest(
    settings: dict[str, Any],
    mixed: pd.DataFrame,
    human: pd.DataFrame,
    synthetic: pd.DataFrame | None,
    human_used: pd.DataFrame,
    synthetic_used: pd.DataFrame,
    unused_labels: dict[str, int],
) -> dict[str, Any]:
    """What was mixed: settings, counts per source and label, provenance, the exact ids and their hash."""
    labels = settings["labels"]
    manifest: dict[str, Any] = {
        **settings,
        "rows": len(mixed),
        "human_rows": int(len(human_used)),
        "synthetic_rows": int(len(synthetic_used)),
        "achieved_ratio": (len(synthetic_used) / len(mixed)) if len(mixed) else 0.0,
        "human_available": int(len(human)),
        "synthetic_available": int(len(synthetic)) if synthetic is not None else 0,
        "synthetic_unused_labels": unused_labels,
        "label_counts": {
            "human": {label: int((human_used[LABEL] == label).sum()) for label in labels},
            "synthetic": {label: int((synthetic_used[LABEL] == label).sum()) for label in labels},
        },
        "synthetic_sources": synthetic_sources(mixed),
        "human_ids": [str(v) for v in human_used[ID]] if ID in human_used.columns else [],
        "synthetic_ids": [str(v) for v in synthetic_used[ID]] if ID in synthetic_used.columns else [],
    }
    manifest["hash"] = stable_hash({"human": manifest["human_ids"], "synthetic": manifest["synthetic_ids"]})
    return manifest


def feasible_share(human: pd.DataFrame, synthetic: pd.DataFrame, share: float, labels: list[str]) -> float:
    """The largest share up to ``share`` that the synthetic rows can supply with label shares following the human rows."""
    counts = human[LABEL].astype(str).value_counts()
    available = synthetic[LABEL].astype(str).value_counts()
    ratio = share / (1.0 - share)
    for label in labels:
        need = ratio * counts.get(label, 0)
        if need > available.get(label, 0):
            ratio = min(ratio, available.get(label, 0) / max(1, counts.get(label, 0)))
    ratio = max(0.0, ratio * 0.999)  # rounding in the mixer must not ask for one row more than exists
    return ratio / (1.0 + ratio)


__all__ = [
    "MixResult",
    "MixMode",
    "SyntheticShortfall",
    "allocate",
    "feasible_share",
    "mix_training_set",
    "stratified_sample",
    "synthetic_sources",
]
