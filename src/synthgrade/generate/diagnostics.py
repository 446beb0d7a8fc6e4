"""Diagnostics of a synthetic set: size, lexical diversity and semantic spread (what temperature changes)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from synthgrade.data.schema import ITEM_ID, LABEL, TEXT, has_items


def distinct_n(texts: list[str], n: int) -> float | None:
    """Distinct n-grams / all n-grams over the texts (Li et al. 2016); None when there are none."""
    total, unique = 0, set()
    for text in texts:
        tokens = str(text).lower().split()
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return round(len(unique) / total, 4) if total else None


def mean_pairwise_cosine(vectors: np.ndarray) -> float | None:
    n = len(vectors)
    if n < 2:
        return None
    sims = vectors @ vectors.T
    return round(float((sims.sum() - np.trace(sims)) / (n * (n - 1))), 4)


def synthetic_diagnostics(synthetic: pd.DataFrame, human: pd.DataFrame, embed: Callable[[list[str]], np.ndarray] | None) -> dict:
    labels = sorted({str(v) for v in synthetic[LABEL]}) if len(synthetic) else []
    out: dict = {
        "rows": len(synthetic),
        "per_label": {label: int((synthetic[LABEL] == label).sum()) for label in labels},
        "distinct_1": distinct_n(list(synthetic[TEXT]), 1),
        "distinct_2": distinct_n(list(synthetic[TEXT]), 2),
        "distinct_by_label": {
            label: {
                "distinct_1": distinct_n(list(synthetic.loc[synthetic[LABEL] == label, TEXT]), 1),
                "distinct_2": distinct_n(list(synthetic.loc[synthetic[LABEL] == label, TEXT]), 2),
            }
            for label in labels
        },
        "mean_length_words": round(float(np.mean([len(str(t).split()) for t in synthetic[TEXT]])), 2) if len(synthetic) else None,
    }
    if has_items(synthetic):
        out["per_item"] = {str(k): int(v) for k, v in synthetic[ITEM_ID].value_counts().sort_index().items()}
        out["per_item_label"] = {
            f"{item}|{label}": int(n) for (item, label), n in synthetic.groupby([ITEM_ID, LABEL]).size().sort_index().items()
        }
    if embed is None or not len(synthetic):
        out["mean_pairwise_cosine"] = None
        out["nearest_human_similarity"] = None
        return out
    vectors = embed(list(synthetic[TEXT]))
    human_vectors = embed(list(human[TEXT])) if len(human) else np.zeros((0, vectors.shape[1]), dtype=np.float32)
    syn_labels = synthetic[LABEL].astype(str).to_numpy()
    out["mean_pairwise_cosine"] = {label: mean_pairwise_cosine(vectors[syn_labels == label]) for label in labels}
    items_known = has_items(synthetic) and ITEM_ID in human.columns
    if items_known:
        per_group = []
        for _, index in synthetic.reset_index(drop=True).groupby([ITEM_ID, LABEL]).indices.items():
            value = mean_pairwise_cosine(vectors[index])
            if value is not None:
                per_group.append(value)
        out["mean_pairwise_cosine_within_item_label"] = round(float(np.mean(per_group)), 4) if per_group else None
    if len(human_vectors):
        sims = vectors @ human_vectors.T
        if items_known:
            same = synthetic[ITEM_ID].astype(str).to_numpy()[:, None] == human[ITEM_ID].astype(str).to_numpy()[None, :]
            sims = np.where(same, sims, -np.inf)
        nearest = sims.max(axis=1)
        valid = np.isfinite(nearest)
        out["nearest_human_similarity"] = {
            "mean": round(float(nearest[valid].mean()), 4) if valid.any() else None,
            "by_label": {
                label: round(float(nearest[valid & (syn_labels == label)].mean()), 4)
                for label in labels
                if (valid & (syn_labels == label)).any()
            },
        }
    else:
        out["nearest_human_similarity"] = None
    return out
