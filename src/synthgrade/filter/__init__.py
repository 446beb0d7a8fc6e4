"""Step 2: keep the synthetic rows whose intended label survives a consistency check.

Methods (chainable, in the order given): ``llm`` re-grades each row with a rubric prompt (JSON
{"rationale", "label"}, majority of ``votes``); ``neighbours`` checks the k nearest human-coded rows
(MiniLM embeddings, same item) and the label centroids; ``classifier`` asks a trained scorer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.console import console
from synthgrade.data import is_synthetic
from synthgrade.data.schema import ITEM_ID, LABEL, TEXT, label_order
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.filter.config import METHODS, FilterConfig

__all__ = ["FilterConfig", "FilterResult", "METHODS", "filter_synthetic", "agreement_report"]


@dataclass
class FilterResult:
    frame: pd.DataFrame
    summary: dict[str, Any]


def agreement_report(intended: list[str], judged: list[str | None], labels: list[str]) -> dict[str, Any]:
    """Cohen's kappa between intended and judged labels (rows with a judgement) and agreement per label."""
    from sklearn.metrics import cohen_kappa_score

    pairs = [(a, b) for a, b in zip(intended, judged, strict=True) if b is not None]
    per_label = {}
    for label in labels:
        rows = [b for a, b in zip(intended, judged, strict=True) if a == label]
        per_label[label] = {"rows": len(rows), "agreement": round(sum(b == label for b in rows) / len(rows), 4) if rows else None}
    kappa = None
    # Kappa needs two of the known labels among the pairs (a judge may answer outside them): else it is undefined.
    if pairs and len({*(a for a, _ in pairs), *(b for _, b in pairs)} & set(labels)) > 1:
        value = cohen_kappa_score([a for a, _ in pairs], [b for _, b in pairs], labels=labels)
        kappa = None if np.isnan(value) else round(float(value), 4)
    return {
        "judged": len(pairs),
        "unjudged": len(intended) - len(pairs),
        "agreement": round(sum(a == b for a, b in pairs) / len(intended), 4) if intended else None,
        "kappa": kappa,
        "per_label": per_label,
    }


def _labels_of(frame: pd.DataFrame, human: pd.DataFrame | None) -> list[str]:
    declared = (human.attrs.get("labels") if human is not None else None) or frame.attrs.get("labels")
    observed = [str(v) for v in frame[LABEL].dropna()] + ([str(v) for v in human[LABEL].dropna()] if human is not None else [])
    return label_order(observed, declared)


def _step_llm(frame: pd.DataFrame, config: FilterConfig, human: pd.DataFrame | None, labels: list[str], cache_dir, show_progress):
    from synthgrade.filter.llm import LLMGrader, majority

    grader = LLMGrader(
        labels,
        human,
        backend=config.backend,
        model=config.model,
        base_url=config.base_url,
        api_key_env=config.api_key_env,
        votes=config.votes,
        temperature=config.grading_temperature,
        top_p=config.top_p,
        max_tokens=config.max_tokens,
        examples_per_label=config.examples,
        prompt=config.prompt,
        concurrency=config.concurrency,
        batch_size=config.batch_size,
        max_requests=config.max_requests,
        seed=config.seed,
        retry=config.retry,
        cache_dir=cache_dir,
        batch=config.batch,
    )
    tasks, items = grader.frame_inputs(frame)
    votes = grader.grade(tasks, items, [str(t) for t in frame[TEXT]], show_progress)
    judged = [majority(v) for v in votes]
    annotations = pd.DataFrame(
        {
            "filter_label": judged,
            "filter_votes": [",".join(v if v is not None else "?" for v in row) for row in votes],
        },
        index=frame.index,
    )
    consistent = np.array([j is not None and j == str(label) for j, label in zip(judged, frame[LABEL], strict=True)])
    reasons = [
        "regraded_" + ("unparsed" if j is None else "other_label") if not ok else None
        for j, ok in zip(judged, consistent, strict=True)
    ]
    report = agreement_report([str(x) for x in frame[LABEL]], judged, labels)
    report["calls"] = grader.last_stats
    report["votes"] = config.votes
    report["temperature"] = grader.temperature
    report["grader"] = {"backend": config.backend, "model": grader.model, "prompt_hash": grader.template.hash}
    return annotations, consistent, reasons, report


def _step_neighbours(frame: pd.DataFrame, config: FilterConfig, human: pd.DataFrame | None, labels: list[str]):
    from synthgrade.embed import embed_texts
    from synthgrade.filter.neighbours import neighbour_decisions

    if human is None or not len(human):
        raise ParameterError("human", "is needed by the neighbours method: the human-coded training rows")
    if is_synthetic(human).any():
        raise ParameterError("human", "must hold human-coded rows only; it contains synthetic rows")
    texts = [str(t) for t in frame[TEXT]]
    human_texts = [str(t) for t in human[TEXT]]
    vectors = embed_texts(texts + human_texts, config.embedder)
    syn_vectors, human_vectors = vectors[: len(texts)], vectors[len(texts) :]
    syn_items = frame[ITEM_ID].tolist() if ITEM_ID in frame.columns else [None] * len(frame)
    human_items = human[ITEM_ID].tolist() if ITEM_ID in human.columns else [None] * len(human)
    decisions = neighbour_decisions(
        syn_vectors,
        [str(x) for x in frame[LABEL]],
        syn_items,
        human_vectors,
        [str(x) for x in human[LABEL]],
        human_items,
        config.k,
    )
    annotations = pd.DataFrame(
        {
            "neighbour_label": [d["neighbour_label"] for d in decisions],
            "neighbour_share": [d["neighbour_share"] for d in decisions],
            "centroid_label": [d["centroid_label"] for d in decisions],
        },
        index=frame.index,
    )
    reasons = [d["reason"] for d in decisions]
    consistent = np.array([r is None for r in reasons])
    report = agreement_report([str(x) for x in frame[LABEL]], [d["neighbour_label"] for d in decisions], labels)
    report["k"] = config.k
    report["other_item_fallback"] = int(
        sum(1 for d, item in zip(decisions, syn_items, strict=True) if isinstance(item, str) and not d["same_item"])
    )
    return annotations, consistent, reasons, report


def _step_classifier(frame: pd.DataFrame, config: FilterConfig, labels: list[str]):
    from synthgrade.modeling import load_scorer

    scorer = load_scorer(config.classifier)
    unknown = sorted({str(x) for x in frame[LABEL]} - set(scorer.labels))
    if unknown:
        raise SynthgradeError(
            f"{config.classifier}: the classifier does not know label(s) {', '.join(unknown)} of the synthetic rows"
        )
    proba = scorer.predict_proba(frame)
    predicted = [scorer.labels[i] for i in proba.argmax(axis=1)]
    index = {label: i for i, label in enumerate(scorer.labels)}
    own = np.array([proba[row, index[str(label)]] for row, label in enumerate(frame[LABEL])])
    annotations = pd.DataFrame({"classifier_label": predicted, "classifier_confidence": np.round(own, 4)}, index=frame.index)
    consistent = np.array([p == str(label) for p, label in zip(predicted, frame[LABEL], strict=True)]) & (
        own >= config.min_confidence
    )
    reasons = [
        None if ok else ("classifier_other_label" if p != str(lab) else "classifier_low_confidence")
        for ok, p, lab in zip(consistent, predicted, frame[LABEL], strict=True)
    ]
    report = agreement_report([str(x) for x in frame[LABEL]], predicted, labels)
    report["classifier"] = str(config.classifier)
    return annotations, consistent, reasons, report


def filter_synthetic(
    synthetic: pd.DataFrame,
    config: FilterConfig,
    human: pd.DataFrame | None = None,
    cache_dir: Path | None = None,
    show_progress: bool = True,
) -> FilterResult:
    """Apply the configured method(s) in order. ``keep="consistent"`` returns the rows every step kept;
    ``keep="all"`` returns every row annotated (``filter_consistent`` and one column per step)."""
    started = time.perf_counter()
    for column in (TEXT, LABEL):
        if column not in synthetic.columns:
            raise SynthgradeError(f"the synthetic data has no '{column}' column")
    labels = _labels_of(synthetic, human)
    frame = synthetic.copy().reset_index(drop=True)
    active = np.ones(len(frame), dtype=bool)
    reasons_all = pd.Series([None] * len(frame), dtype=object)
    steps = []
    for method in config.method:
        rows = frame.index[active] if config.keep == "consistent" else frame.index
        subset = frame.loc[rows]
        if show_progress:
            console.print(f"filter step {method}: {len(subset):,} rows", highlight=False)
        if not len(subset):
            steps.append({"method": method, "rows_in": 0, "kept": 0, "dropped": 0, "agreement": None, "kappa": None})
            continue
        if method == "llm":
            annotations, consistent, reasons, report = _step_llm(subset, config, human, labels, cache_dir, show_progress)
        elif method == "neighbours":
            annotations, consistent, reasons, report = _step_neighbours(subset, config, human, labels)
        else:
            annotations, consistent, reasons, report = _step_classifier(subset, config, labels)
        for column in annotations.columns:
            if column not in frame.columns:
                frame[column] = pd.Series([None] * len(frame), dtype=object)
            frame.loc[rows, column] = annotations[column].astype(object).values
        if f"{method}_consistent" not in frame.columns:
            frame[f"{method}_consistent"] = False  # rows an earlier step dropped are not checked again
        frame.loc[rows, f"{method}_consistent"] = consistent
        for position, (row, reason) in enumerate(zip(rows, reasons, strict=True)):
            if reason is not None and reasons_all[row] is None:
                reasons_all[row] = reason
            if not consistent[position]:
                active[row] = False
        dropped = pd.Series([r for r in reasons if r is not None], dtype=object).value_counts().to_dict()
        steps.append(
            {
                "method": method,
                "rows_in": int(len(subset)),
                "kept": int(consistent.sum()),
                "dropped": int((~consistent).sum()),
                "dropped_by_reason": {str(k): int(v) for k, v in sorted(dropped.items())},
                **report,
            }
        )
    frame["filter_consistent"] = active
    removed_by_reason = reasons_all[~active].value_counts().to_dict()
    kept = frame[active] if config.keep == "consistent" else frame
    summary = {
        "rows_in": len(frame),
        "kept": int(active.sum()),
        "removed": int((~active).sum()),
        "removed_by_reason": {str(k): int(v) for k, v in sorted(removed_by_reason.items())},
        "kept_per_label": {label: int(((frame[LABEL].astype(str) == label) & active).sum()) for label in labels},
        "keep": config.keep,
        "methods": list(config.method),
        "steps": steps,
        "config": config.model_dump(mode="json"),
        "wall_time_s": round(time.perf_counter() - started, 3),
    }
    for column in [c for c in frame.columns if c.endswith("_consistent")]:
        frame[column] = frame[column].astype(bool)
    return FilterResult(kept.reset_index(drop=True), summary)
