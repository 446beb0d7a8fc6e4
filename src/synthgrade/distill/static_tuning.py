"""Tuning a static student's token vectors toward its teacher's sentence embeddings ("tokenlearn"-style).

A model2vec encoder distilled from a teacher embeds each vocabulary token alone, out of context; the ridge map
(distill/hybrid_student.fit_projection) then rotates the averaged vectors into the teacher's space. Both are
linear, so they cannot learn what a token means in the sentences a task actually has. :func:`tune_static`
fine-tunes the token vectors and the map together on the projection corpus (the transfer responses and the
items' wording and reference answers): each text is the mean of its token vectors, mapped and normalised,
and the loss is 1 - cosine to the teacher's embedding of that text, plus a penalty pulling every vector back
toward its distilled start (tokens the corpus lacks keep their start exactly). A random tenth of the texts is
held out and the epoch with the best held-out cosine is kept (none, when no epoch beats the untuned map).

The tuned vectors are saved as a model2vec folder (same tokenizer and config), so a student over them is an
ordinary ``static:<folder>`` hybrid: predict, serve and export need nothing new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Passes over the corpus (the best held-out epoch is kept), learning rate, and the pull toward the start.
TUNE_EPOCHS = 8
TUNE_LR = 3e-3
TUNE_PENALTY = 1.0
TUNE_BATCH = 128
HELD_OUT = 0.1


def tune_static(
    folder: str | Path,
    projection: np.ndarray,
    texts: list[str],
    targets: np.ndarray,
    out: str | Path,
    seed: int = 0,
    epochs: int = TUNE_EPOCHS,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Tune ``folder``'s token vectors and ``projection`` so mapped means of ``texts`` approach ``targets``
    (unit rows); save the vectors as a model2vec folder ``out``; return (tuned map, record)."""
    import torch
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(str(folder))
    if model.token_mapping is not None or model.weights is not None:
        raise ValueError(f"{folder}: a quantised or weighted static encoder cannot be tuned")
    ids = [token_ids or [] for token_ids in model.tokenize(list(texts))]
    keep = np.array([len(token_ids) > 0 for token_ids in ids])
    ids = [token_ids for token_ids, kept in zip(ids, keep, strict=True) if kept]
    targets = np.asarray(targets, dtype=np.float32)[keep]
    full = np.asarray(model.embedding, dtype=np.float32)
    # Only the corpus's tokens can move: tune their rows alone (local ids), then write them back.
    vocabulary, local = np.unique(np.concatenate([np.asarray(t, dtype=np.int64) for t in ids]), return_inverse=True)
    bounds = np.cumsum([0] + [len(t) for t in ids])
    ids = [local[bounds[i] : bounds[i + 1]].tolist() for i in range(len(ids))]
    start = full[vocabulary]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    held = order[: int(round(HELD_OUT * len(ids))) if len(ids) >= 20 else 0]
    train = np.setdiff1d(order, held)
    torch.manual_seed(seed)
    embedding = torch.nn.Parameter(torch.from_numpy(start.copy()))
    mapping = torch.nn.Parameter(torch.from_numpy(np.asarray(projection, dtype=np.float32).copy()))
    start_t, map_t = torch.from_numpy(start), torch.from_numpy(np.asarray(projection, dtype=np.float32))
    target_t = torch.from_numpy(targets)
    touched = torch.from_numpy(np.unique(np.concatenate([np.asarray(ids[i], dtype=np.int64) for i in train])))
    optimiser = torch.optim.Adam([embedding, mapping], lr=TUNE_LR)

    def bag(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        flat = torch.from_numpy(np.concatenate([np.asarray(ids[i], dtype=np.int64) for i in rows]))
        offsets = torch.from_numpy(np.cumsum([0] + [len(ids[i]) for i in rows[:-1]]).astype(np.int64))
        return flat, offsets

    def cosine(rows: np.ndarray) -> torch.Tensor:
        flat, offsets = bag(rows)
        pooled = torch.nn.functional.embedding_bag(flat, embedding, offsets, mode="mean")
        mapped = torch.nn.functional.normalize(torch.nn.functional.normalize(pooled, dim=1) @ mapping, dim=1)
        return (mapped * target_t[torch.from_numpy(rows)]).sum(dim=1)

    def held_cosine() -> float:
        if not len(held):
            return float("nan")
        with torch.no_grad():
            return float(cosine(held).mean())

    best = {"epoch": 0, "cosine": held_cosine(), "embedding": start, "mapping": np.asarray(projection, dtype=np.float32)}
    curve = [{"epoch": 0, "held_out_cosine": round(best["cosine"], 4)}]
    for epoch in range(1, epochs + 1):
        shuffled = rng.permutation(train)
        for begin in range(0, len(shuffled), TUNE_BATCH):
            rows = shuffled[begin : begin + TUNE_BATCH]
            loss = (1.0 - cosine(rows)).mean()
            pull = ((embedding[touched] - start_t[touched]) ** 2).sum(dim=1).mean() + ((mapping - map_t) ** 2).sum(dim=0).mean()
            optimiser.zero_grad()
            (loss + TUNE_PENALTY * pull).backward()
            optimiser.step()
        score = held_cosine()
        curve.append({"epoch": epoch, "held_out_cosine": round(score, 4)})
        if len(held) and score > best["cosine"]:
            best = {
                "epoch": epoch,
                "cosine": score,
                "embedding": embedding.detach().numpy().copy(),
                "mapping": mapping.detach().numpy().copy(),
            }
    if not len(held):  # too few texts to hold any out: the last epoch
        best |= {"epoch": epochs, "embedding": embedding.detach().numpy().copy(), "mapping": mapping.detach().numpy().copy()}
    full[vocabulary] = best["embedding"]
    model.embedding = full  # float32: the tuning steps are finer than float16
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    record = {
        "texts": int(len(ids)),
        "held_out": int(len(held)),
        "epochs": epochs,
        "best_epoch": int(best["epoch"]),
        "curve": curve,
        "tokens_tuned": int(len(touched)),
    }
    return np.asarray(best["mapping"], dtype=np.float32), record
