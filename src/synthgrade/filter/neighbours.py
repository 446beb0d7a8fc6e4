"""Human-anchored filtering without an LLM: k nearest human-coded neighbours and label centroids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


def neighbour_decisions(
    synthetic_vectors: np.ndarray,
    synthetic_labels: Sequence[str],
    synthetic_items: Sequence[str | None],
    human_vectors: np.ndarray,
    human_labels: Sequence[str],
    human_items: Sequence[str | None],
    k: int = 5,
) -> list[dict]:
    """Per synthetic row: the neighbours' majority label, their share of the intended label, the nearest
    label centroid, and a reason when the row fails (``neighbours_disagree`` / ``closer_to_other_label``).

    Neighbours come from human rows of the same item when that item has human rows, else from all.
    """
    human_labels = np.asarray([str(x) for x in human_labels], dtype=object)
    human_items_arr = np.asarray([x if isinstance(x, str) else None for x in human_items], dtype=object)
    pools: dict[str | None, np.ndarray] = {}
    out = []
    sims_all = synthetic_vectors @ human_vectors.T if len(human_vectors) else np.zeros((len(synthetic_vectors), 0))
    for row, (label, item) in enumerate(zip(synthetic_labels, synthetic_items, strict=True)):
        item = item if isinstance(item, str) else None
        if item not in pools:
            same = np.flatnonzero(human_items_arr == item) if item is not None else np.array([], dtype=int)
            pools[item] = same if len(same) else np.arange(len(human_labels))
        pool = pools[item]
        same_item = item is not None and len(pool) and human_items_arr[pool[0]] == item
        if not len(pool):
            out.append(
                {
                    "neighbour_label": None,
                    "neighbour_share": None,
                    "centroid_label": None,
                    "reason": "no_human_rows",
                    "same_item": False,
                }
            )
            continue
        sims = sims_all[row, pool]
        take = min(k, len(pool))
        nearest = pool[np.argsort(-sims, kind="stable")[:take]]
        counts = Counter(human_labels[nearest])
        share = counts.get(str(label), 0) / take
        top = counts.most_common()
        majority = top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else None
        centroid_sims = {}
        for other in sorted(set(human_labels[pool])):
            members = pool[human_labels[pool] == other]
            centroid = synthetic_vectors.dtype.type(1) * human_vectors[members].mean(axis=0)
            norm = float(np.linalg.norm(centroid)) or 1.0
            centroid_sims[other] = float(synthetic_vectors[row] @ centroid) / norm
        centroid_label = max(centroid_sims, key=lambda x: (centroid_sims[x], x == str(label)))
        reason = None
        others = {lab: n for lab, n in counts.items() if lab != str(label)}
        if others and max(others.values()) > counts.get(str(label), 0) and share < 0.5:
            reason = "neighbours_disagree"
        elif str(label) in centroid_sims and centroid_label != str(label):
            reason = "closer_to_other_label"
        elif str(label) not in centroid_sims:
            reason = "label_absent_in_human_rows"
        out.append(
            {
                "neighbour_label": majority,
                "neighbour_share": round(share, 4),
                "centroid_label": centroid_label,
                "reason": reason,
                "same_item": bool(same_item),
            }
        )
    return out
