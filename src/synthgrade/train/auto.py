"""``--model auto``: train the candidate scorers that fit a time budget and ship the one human validation prefers.

Candidates run cheapest first; one whose estimated cost would overrun ``time_budget`` is skipped (and
listed with the reason). The choice uses human-coded rows only:

1. every candidate's validation macro-F1;
2. (rule ``tie`` only) the candidates that a paired bootstrap over the validation rows cannot tell from the
   best (the 95 % interval of the difference includes 0) are a tie: small validation sets tie often; the
   default rule ``pooled`` skips this step, so every candidate goes on to step 3;
3. the candidates with a cross-validated macro-F1 on the training rows (tfidf, lexical, hybrids, the
   ensemble) are compared on it, pooled with their validation score by row count; candidates without one
   (fine-tuned encoders) win only when none of the others has one. Equal scores go to the cheaper.

When the best hybrid and ``lexical`` both ran, their weighted average (:func:`ensemble_candidate`, the weight
chosen on the training rows' out-of-fold probabilities) competes as one more candidate (``ENSEMBLE``).

The leaderboard and the reason are recorded in ``synthgrade.json`` (``training.auto``) and the model card.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.console import console
from synthgrade.data import label_indices
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.modeling import Scorer
from synthgrade.scorers import kind_for
from synthgrade.scorers.registry import DEFAULT_KIND, trainable_kinds
from synthgrade.train.inputs import training_provenance

#: Cheapest first. Fine-tuning comes last: on CPU and small budgets it rarely wins and costs the most.
#: ``lexical`` (the strong lexical recipe) joined on held-out training-split rows of SciEntsBank and Beetle
#: (benchmarks/results/probes/auto-candidates.md: +0.016 on Beetle, -0.001 on SciEntsBank, mean of 50/100/400 labels).
DEFAULT_CANDIDATES = ("tfidf", "lexical", "hybrid:minilm-l6", "hybrid:mpnet-base", "minilm-l6")
DEFAULT_TIME_BUDGET = 20 * 60.0
#: How ``choose`` decides: ``tie`` (validation first, cross-validation within its noise) or ``pooled``. Pooled
#: matched tie on SciEntsBank and beat it on Beetle (+0.007) on held-out training-split rows (probe above).
RULE = "pooled"
#: After training, add the ensemble of the best hybrid and ``lexical`` (when both ran) as one more candidate
#: (held-out rows: +0.004 on SciEntsBank, +0.001 on Beetle over the same rule without it).
ENSEMBLE = True
#: Rough CPU seconds per training row (2 cores): embedding for hybrids, 1 epoch of fine-tuning for encoders.
SECONDS_PER_ROW = {
    "tfidf": 0.001, "lexical": 0.01, "hybrid:minilm-l6": 0.02, "hybrid:mpnet-base": 0.08, "minilm-l6": 0.07, "mpnet-base": 0.45,
}  # fmt: skip


@dataclass
class Candidate:
    spec: str
    scorer: Scorer | None = None
    val_proba: np.ndarray | None = None
    cv_macro_f1: float | None = None
    seconds: float = 0.0
    skipped: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def unknown_model_specs(specs: list[str]) -> list[str]:
    """The specs that name no scorer kind, packaged encoder, folder or hub id (``org/name``), found without the
    network: a misspelt name is refused at once instead of costing a minute of model-hub retries."""
    from synthgrade.models import REGISTRY

    unknown = []
    for spec in specs:
        kind, colon, encoder = spec.partition(":")
        if kind in trainable_kinds() and kind != DEFAULT_KIND:
            if not colon:
                continue
            spec_name = encoder
        else:
            spec_name = spec
        if spec_name in REGISTRY or "/" in spec_name or Path(spec_name).expanduser().exists():
            continue
        unknown.append(spec)
    return unknown


def known_model_specs() -> str:
    """The names ``unknown_model_specs`` accepts, for its error message."""
    from synthgrade.models import REGISTRY

    encoders = [name for name, entry in REGISTRY.items() if entry.kind == "encoder"]
    kinds = [kind for kind in trainable_kinds() if kind != DEFAULT_KIND]
    return ", ".join([*kinds, *(f"hybrid:{e}" for e in encoders), *encoders]) + ", a model folder or a hub id (org/name)"


def estimate_seconds(spec: str, rows: int, epochs: int) -> float:
    per_row = SECONDS_PER_ROW.get(spec, SECONDS_PER_ROW["mpnet-base"])
    if spec.startswith(("tfidf", "lexical", "hybrid")):
        return 5.0 + per_row * rows
    return 20.0 + per_row * rows * epochs


def ensemble_candidate(
    candidates: list[Candidate], train_df: pd.DataFrame, y_val: np.ndarray, labels: list[str]
) -> Candidate | None:
    """The average of the best hybrid (by cross-validation) and the ``lexical`` model, weighted by the training
    rows' out-of-fold probabilities; None unless both were trained and the best weight mixes them."""
    from synthgrade.scorers.ensemble import weighted

    def usable(c: Candidate) -> bool:
        return c.scorer is not None and c.val_proba is not None and getattr(c.scorer, "oof_proba", None) is not None

    hybrids = [c for c in candidates if c.spec.startswith("hybrid") and usable(c)]
    lexical = next((c for c in candidates if c.spec == "lexical" and usable(c)), None)
    if not hybrids or lexical is None:
        return None
    hybrid = max(hybrids, key=lambda c: c.cv_macro_f1 if c.cv_macro_f1 is not None else -1.0)
    names = [hybrid.spec, lexical.spec]
    members, val_probas = [hybrid.scorer, lexical.scorer], [hybrid.val_proba, lexical.val_proba]
    scorer, val_proba = weighted(members, names, train_df, val_probas, y_val, labels)  # type: ignore[arg-type]
    weight = scorer.weights[0]
    if weight in (0.0, 1.0):
        return None  # one member alone is at least as good out of fold: nothing to combine
    score = scorer.info.training["cv_macro_f1"]
    spec = f"ensemble:{'+'.join(names)}"
    return Candidate(spec, scorer, val_proba, score, hybrid.seconds + lexical.seconds, extra={"weight": weight})


def choose(
    candidates: list[Candidate], y_val: np.ndarray, labels: list[str], train_rows: int, seed: int = 0, rule: str | None = None
) -> tuple[int, dict]:
    """Index of the winner among trained ``candidates`` and the record of why (leaderboard, tie, rule).

    ``rule`` (default :data:`RULE`): ``tie`` pools cross-validation with validation only among the candidates
    that validation cannot separate from the best; ``pooled`` compares every candidate on the pooled score.
    """
    rule = rule or RULE
    from synthgrade.metrics import evaluate_predictions, point_metrics

    trained = [i for i, c in enumerate(candidates) if c.scorer is not None and c.val_proba is not None]
    if not trained:
        raise ParameterError("time_budget", "is too small: no candidate model could be trained within the time budget")
    val_f1 = {i: float(point_metrics(y_val, candidates[i].val_proba, labels)["macro_f1"] or 0.0) for i in trained}
    best = max(trained, key=lambda i: (val_f1[i], -i))
    tied = [best]
    intervals: dict[int, list[float]] = {}
    for i in trained:
        if i == best:
            continue
        diff = evaluate_predictions(
            y_val, candidates[best].val_proba, labels, bootstrap=1000, seed=seed, compare_proba=candidates[i].val_proba
        )["diff"]["macro_f1"]
        intervals[i] = [diff["value"], diff["ci_low"], diff["ci_high"]]
        if rule == "pooled" or diff["ci_low"] is None or diff["ci_low"] <= 0:
            tied.append(i)
    n_val = len(y_val)

    def pooled(i: int) -> float:
        cv = candidates[i].cv_macro_f1
        if cv is None or not np.isfinite(cv):
            return val_f1[i]
        return (cv * train_rows + val_f1[i] * n_val) / (train_rows + n_val)

    with_cv = [i for i in tied if candidates[i].cv_macro_f1 is not None and np.isfinite(candidates[i].cv_macro_f1)]
    contenders = with_cv or tied
    winner = max(contenders, key=lambda i: (pooled(i), -i)) if len(tied) > 1 else best
    if len(trained) == 1:
        reason = f"{candidates[best].spec} is the only candidate trained (validation macro-F1 {val_f1[best]:.3f})"
    elif winner == best and len(tied) == 1:
        reason = f"{candidates[best].spec} has the best validation macro-F1 ({val_f1[best]:.3f}), clearly ahead of the others"
    elif rule == "pooled":
        reason = (
            f"{candidates[winner].spec} leads on cross-validated macro-F1 over the training rows pooled with validation "
            f"({pooled(winner):.3f}; validation alone {val_f1[winner]:.3f} on {n_val} rows)"
        )
    elif winner == best:
        reason = (
            f"{candidates[best].spec} has the best validation macro-F1 ({val_f1[best]:.3f}); "
            f"{len(tied) - 1} other candidate(s) are within validation noise, and it also leads on cross-validation"
        )
    else:
        reason = (
            f"validation ({n_val} rows) cannot separate {', '.join(candidates[i].spec for i in tied)}; "
            f"{candidates[winner].spec} leads on cross-validated macro-F1 over the training rows pooled with validation "
            f"({pooled(winner):.3f})"
        )
    leaderboard = []
    for i, c in enumerate(candidates):
        row: dict[str, Any] = {"model": c.spec, "seconds": round(c.seconds, 1)}
        if c.skipped:
            row["skipped"] = c.skipped
        else:
            row |= {
                "val_macro_f1": round(val_f1[i], 4) if i in val_f1 else None,
                "cv_macro_f1": round(c.cv_macro_f1, 4) if c.cv_macro_f1 is not None else None,
                "selection_score": round(pooled(i), 4) if i in val_f1 else None,
                "tied_with_best": i in tied,
                "diff_to_best_val": [round(v, 4) for v in intervals[i]] if i in intervals else None,
            }
        leaderboard.append(row)
    record = {"chosen": candidates[winner].spec, "reason": reason, "leaderboard": leaderboard, "val_rows": n_val, "rule": rule}
    return winner, record


def train_auto(train_df: pd.DataFrame, val_df: pd.DataFrame, args: Any, labels: list[str], provenance: dict[str, Any]) -> Scorer:
    """Train each candidate within ``args.time_budget`` seconds and return the chosen one, its record attached."""
    budget = float(args.time_budget or DEFAULT_TIME_BUDGET)
    rows_provenance = training_provenance(train_df, val_df, provenance)
    specs = list(args.candidates or DEFAULT_CANDIDATES)
    unknown = unknown_model_specs(specs)
    if unknown:  # before anything trains: a misspelt name would cost minutes of model-hub retries, then be skipped
        raise ParameterError("candidates", f"names unknown models {', '.join(unknown)}; known: {known_model_specs()}")
    y_val = label_indices(val_df, labels)
    candidates: list[Candidate] = []
    started = time.perf_counter()
    for number, spec in enumerate(specs, start=1):
        candidate = Candidate(spec)
        candidates.append(candidate)
        elapsed = time.perf_counter() - started
        estimate = estimate_seconds(spec, len(train_df), args.epochs)
        if elapsed + estimate > budget:
            left = (budget - elapsed) / 60
            candidate.skipped = f"estimated {estimate / 60:.1f} min would exceed the time budget ({left:.1f} min left)"
            console.print(f"auto: skipping {spec}: {candidate.skipped}", highlight=False)
            continue
        if args.show_progress:
            console.print(
                f"auto [{number}/{len(specs)}]: training {spec} (about {estimate / 60:.1f} min; "
                f"{(budget - elapsed) / 60:.1f} min of the time budget left)",
                highlight=False,
            )
        tick = time.perf_counter()
        try:
            scorer = kind_for(spec).fit(train_df, val_df, replace(args, model=spec), labels, dict(rows_provenance))
        except SynthgradeError as exc:
            candidate.skipped = f"failed: {exc}"
            console.print(f"auto: {spec} failed: {exc}", highlight=False)
            continue
        candidate.seconds = time.perf_counter() - tick
        candidate.scorer = scorer
        candidate.val_proba = scorer.predict_proba(val_df, batch_size=args.eval_batch_size)
        candidate.cv_macro_f1 = scorer.info.training.get("cv_macro_f1")
        if args.show_progress:
            f1 = scorer.info.training.get("validation", {}).get("macro_f1")
            console.print(f"auto: {spec} validation macro-F1 {f1:.4f} in {candidate.seconds:.0f} s", highlight=False)
    combined = ensemble_candidate(candidates, train_df, y_val, labels) if ENSEMBLE else None
    if combined is not None:
        candidates.append(combined)
    winner, record = choose(candidates, y_val, labels, len(train_df), args.seed)
    record["time_budget_s"] = budget
    record["elapsed_s"] = round(time.perf_counter() - started, 1)
    scorer = candidates[winner].scorer
    assert scorer is not None
    scorer.info.training["auto"] = record
    console.print(f"auto: chose {record['chosen']}: {record['reason']}", highlight=False)
    return scorer
