"""Probe: how closely a static student's similarities track its teacher's, raw and mapped (seconds, no training).

Items of the official *training* split are split 80/20 (seeded); the map (distill/hybrid_student.fit_projection)
is fitted on the responses, wordings and references of the 80 %, then on the responses to the held-out 20 %
(new questions, where the student's item-agnostic head decides) we compare the teacher's cosine(response,
reference) with the student's, raw and mapped: Pearson correlation, and agreement of "above the item's median".

    .venv/bin/python benchmarks/training/probe_projection.py --teacher minilm-l6 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import DATA, EMBEDDINGS, load_cache  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", default="minilm-l6")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    import numpy as np

    from synthgrade.data import load_responses
    from synthgrade.distill.hybrid_student import fit_projection, static_encoder_for
    from synthgrade.scorers.hybrid import HybridFeatures

    full = load_responses(DATA / "train")
    load_cache(EMBEDDINGS)
    teacher = HybridFeatures(args.teacher, pair=True, labels=2, max_length=128)
    student = static_encoder_for(args.teacher)
    for seed in (int(s) for s in args.seeds.split(",")):
        rng = np.random.default_rng(seed)
        items = sorted(full["item_id"].unique())
        held = set(rng.choice(items, size=len(items) // 5, replace=False))
        fit_rows, check = full[~full["item_id"].isin(held)], full[full["item_id"].isin(held)]
        texts = fit_rows["text"].tolist() + fit_rows["item_text"].unique().tolist() + fit_rows["reference"].unique().tolist()
        mapping, record = fit_projection(student, teacher, texts, seed)
        raw = HybridFeatures(student, pair=True, labels=2, max_length=128)
        mapped = HybridFeatures(student, pair=True, labels=2, max_length=128)
        mapped.projection = mapping
        target = (teacher.embed(check["text"].tolist()) * teacher.embed(check["reference"].tolist())).sum(axis=1)
        out = [f"seed{seed} map penalty {record['penalty']} cv cos {record['cv_mean_cosine']}"]
        for name, features in (("raw", raw), ("mapped", mapped)):
            cosine = (features.embed(check["text"].tolist()) * features.embed(check["reference"].tolist())).sum(axis=1)
            r = float(np.corrcoef(cosine, target)[0, 1])
            frame = check.assign(s=cosine, t=target)
            above = frame.groupby("item_id")[["s", "t"]].transform(lambda v: v > v.median())
            agree = float((above["s"] == above["t"]).mean())
            out.append(f"{name}: r {r:.3f}, above-median agreement {agree:.3f}")
        print(" | ".join(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
