"""Probe: extra per-item features for the hybrid's seen-item head, judged on the bench's validation rows only.

For each (budget, seed, encoder) it fits the hybrid's features exactly as ``HybridScorer.fit`` does, then fits the
seen head with and without candidate extra blocks at a few C values and prints validation macro-F1 (the bench's
20 % human validation split; the official tests are never read). Embeddings come from the bench's disk cache.

    .venv/bin/python benchmarks/scoring/probe_hybrid_seen.py --budgets all --seeds 0,1,2 --encoders minilm-l6
"""

from __future__ import annotations

# ruff: noqa: E501, B905
import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from synthgrade.scorers.hybrid import HybridFeatures

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import DATA, EMBEDDINGS, draw, load_cache  # noqa: E402

c_only = None


def _per_item_similarities(features: HybridFeatures, query: Any, bank: Any, items: list[str], leave_out: bool):
    """Yield (rows, similarity matrix rows x same-item bank rows, bank labels) per item (probe helper)."""
    from synthgrade.scorers.hybrid import rows_by_key

    by_item = rows_by_key(features.bank_items)
    for key, rows in rows_by_key(items).items():
        members = np.asarray(by_item.get(key, []), dtype=np.int64)
        if not len(members):
            continue
        similarity = query[rows] @ bank[members].T
        similarity = similarity.toarray() if hasattr(similarity, "toarray") else np.asarray(similarity, dtype=np.float64)
        if leave_out:
            np.fill_diagonal(similarity, -np.inf)
        yield rows, similarity, features.bank_labels[members]


def _knn_block(features: HybridFeatures, query: Any, bank: Any, items: list[str], leave_out: bool, kind: str) -> np.ndarray:
    L = features.num_labels
    ks = (1, 3, 5, 10)
    if kind == "top":
        width = L * len(ks) + L
    elif kind.startswith("share"):
        width = L
    else:
        raise ValueError(kind)
    out = np.zeros((len(items), width))
    for rows, similarity, labels in _per_item_similarities(features, query, bank, items, leave_out):
        if kind == "top":
            for label in range(L):
                columns = labels == label
                if not columns.any():
                    continue
                values = np.sort(similarity[:, columns], axis=1)[:, ::-1]
                finite = np.isfinite(values)
                for j, k in enumerate(ks):
                    top = np.where(finite[:, :k], values[:, :k], 0.0)
                    count = finite[:, :k].sum(axis=1)
                    out[rows, L * j + label] = np.where(count > 0, top.sum(axis=1) / np.maximum(count, 1), 0.0)
                vals = np.where(np.isfinite(similarity[:, columns]), similarity[:, columns], np.nan)
                out[rows, L * len(ks) + label] = np.nan_to_num(np.nanmean(vals, axis=1))
        else:
            k = int(kind[5:])
            order = np.argsort(-similarity, axis=1)[:, :k]
            sims = np.take_along_axis(similarity, order, axis=1)
            ok = np.isfinite(sims)
            weights = np.where(ok, np.maximum(sims, 0.0) + 1e-3, 0.0)
            for label in range(L):
                hit = (labels[order] == label) & ok
                out[rows, label] = (weights * hit).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    return out


def extra_blocks(
    features: HybridFeatures, first: Sequence[str], second: Sequence[str] | None, variant: str, training: bool = False
) -> np.ndarray:
    """Candidate extra seen-head features (see benchmarks/scoring/probe_hybrid_seen.py)."""
    responses, contexts = (second, first) if second is not None else (first, None)
    items = [features._key(c) for c in contexts] if contexts is not None else [""] * len(responses)
    parts = []
    for name in variant.split("+"):
        source, _, kind = name.partition("-")
        if source == "emb":
            query, bank = features.embed(responses), features.bank_embeddings
        elif source == "tf":
            if getattr(features, "_bank_words", None) is None:
                raise RuntimeError("probe: set features._bank_words")
            query, bank = features.lexical.words.transform(responses), features._bank_words
        else:
            raise ValueError(name)
        parts.append(_knn_block(features, query, bank, items, training, kind))
    return np.hstack(parts)


def _tagged_embeddings(vectors: np.ndarray, items: list[str], index: dict[str, int]) -> Any:
    """Rows of ``vectors`` placed in their item's column block (item-specific linear weights); unknown items -> zeros."""
    from scipy.sparse import csr_matrix

    d = vectors.shape[1]
    rows, cols, vals = [], [], []
    for row, key in enumerate(items):
        if key in index:
            rows.append(np.full(d, row))
            cols.append(index[key] * d + np.arange(d))
            vals.append(vectors[row])
    if not rows:
        return csr_matrix((len(items), d * max(1, len(index))))
    return csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(items), d * max(1, len(index)))
    )


def stack_variant(features, inputs, y_train, seed, name):
    """OOF log-probs on train and fitted log-probs on val of an extra per-item model."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    from synthgrade.scorers import cv as folds
    from synthgrade.scorers.hybrid import log_proba, logistic

    (ct, rt), (cv, rv) = inputs["train"], inputs["val"]
    items_t = [features._key(c) for c in ct]
    items_v = [features._key(c) for c in cv]
    index = {k: i for i, k in enumerate(sorted(set(items_t)))}
    mats = []
    for part in name.split("+"):
        if part == "itememb":
            mats.append(
                (_tagged_embeddings(features.embed(rt), items_t, index), _tagged_embeddings(features.embed(rv), items_v, index))
            )
        elif part == "char":
            vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2).fit(rt)
            mats.append((vec.transform(rt), vec.transform(rv)))
        elif part == "charitem":
            vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2).fit(rt)
            a, b = vec.transform(rt), vec.transform(rv)
            from scipy.sparse import csr_matrix

            def tag(m, items):
                m = m.tocsr()
                nf = m.shape[1]
                cols = []
                for r, key in enumerate(items):
                    cols.append(m.indices[m.indptr[r] : m.indptr[r + 1]] + index.get(key, 0) * nf)
                return csr_matrix((m.data, np.concatenate(cols), m.indptr), shape=(m.shape[0], nf * len(index)))

            mats.append((tag(a, items_t), tag(b, items_v)))
        elif part == "lex":
            mats.append((features.lexical.transform(ct, rt), features.lexical.transform(cv, rv)))
        elif part == "tagbi":
            vec = TfidfVectorizer(token_pattern=r"\S+", lowercase=False, sublinear_tf=True, ngram_range=(1, 2))

            def tt(c, r):
                key = features._key(c)
                import re

                toks = re.findall(r"(?u)\b\w+\b", r.lower())
                return " ".join(f"{key}_{t}" for t in toks)

            a = vec.fit_transform([tt(c, r) for c, r in zip(ct, rt)])
            mats.append((a, vec.transform([tt(c, r) for c, r in zip(cv, rv)])))
    mt = hstack([m[0] for m in mats]).tocsr()
    mv = hstack([m[1] for m in mats]).tocsr()
    grid = {"C": (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)}
    choice = folds.cross_validated_choice(logistic(), grid, mt, np.asarray(y_train), seed, None, features.num_labels)
    model, best = choice.model, choice.score or float("nan")
    oof = (
        np.log(np.clip(choice.oof_proba, 1e-4, 1.0))
        if choice.oof_proba is not None
        else log_proba(model, mt, features.num_labels)
    )
    val = log_proba(model, mv, features.num_labels)
    print(f"    stack {name}: C={model.C} cv={best:.4f}", flush=True)
    return oof, val


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", default="all")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--encoders", default="minilm-l6")
    parser.add_argument("--cs", default="0.1,0.3,1,3")
    parser.add_argument("--variants", default="")
    args = parser.parse_args()
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from synthgrade.data import load_responses
    from synthgrade.scorers.fitting import prepare_inputs
    from synthgrade.scorers.hybrid import HybridFeatures
    from synthgrade.train import TrainingArguments

    full = load_responses(DATA / "train")
    labels = sorted(full["label"].unique())
    load_cache(EMBEDDINGS)
    cs = [float(c) for c in args.cs.split(",")]
    variants = [v for v in args.variants.split(",") if v] or ["base"]
    for budget in args.budgets.split(","):
        for encoder in args.encoders.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                tick = time.perf_counter()
                train, val, _ = draw(full, budget, seed, labels)
                targs = TrainingArguments(model=f"hybrid:{encoder}", show_progress=False, seed=seed, labels=labels)
                info, inputs, y_train, y_val = prepare_inputs(train, val, targs, labels, "hybrid", "x")
                features = HybridFeatures(encoder, info.input_mode == "pair", len(labels), targs.max_length)
                features.fit(*inputs["train"], y_train, seed=seed)
                features._bank_words = features.lexical.words.transform(inputs["train"][1])
                tb = features.blocks(*inputs["train"], training=True)
                vb = features.blocks(*inputs["val"])
                features.fit_scale(tb)
                seen_t, _ = features.matrices(tb)
                seen_v, _ = features.matrices(vb)
                known = features.seen(*inputs["val"])
                fit_s = time.perf_counter() - tick
                for variant in variants:
                    if variant == "base":
                        mt, mv = seen_t, seen_v
                    elif variant.startswith("stack-"):
                        pairs = [stack_variant(features, inputs, y_train, seed, v[6:]) for v in variant.split("|")]
                        et, ev = np.hstack([p[0] for p in pairs]), np.hstack([p[1] for p in pairs])
                        mean, std = et.mean(axis=0), et.std(axis=0) + 1e-6
                        mt = hstack([seen_t, csr_matrix((et - mean) / std)]).tocsr()
                        mv = hstack([seen_v, csr_matrix((ev - mean) / std)]).tocsr()
                        if budget == "all" and c_only is None:
                            pass
                    else:
                        et = extra_blocks(features, *inputs["train"], variant, training=True)
                        ev = extra_blocks(features, *inputs["val"], variant)
                        mean, std = et.mean(axis=0), et.std(axis=0) + 1e-6
                        mt = hstack([seen_t, csr_matrix((et - mean) / std)]).tocsr()
                        mv = hstack([seen_v, csr_matrix((ev - mean) / std)]).tocsr()
                    scores = []
                    for c in cs:
                        model = LogisticRegression(C=c, max_iter=3000).fit(mt, y_train)
                        pred = model.predict(mv[np.flatnonzero(known)])
                        scores.append(f1_score(y_val[known], pred, average="macro"))
                    print(
                        f"{budget}\t{encoder}\tseed{seed}\t{variant:24s}\t"
                        + "\t".join(f"C{c:g}={s:.4f}" for c, s in zip(cs, scores, strict=True))
                        + f"\tfit {fit_s:.0f}s",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
