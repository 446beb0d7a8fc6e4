"""Response embeddings for selection, kept on disk between runs (a pool is embedded once, then read back).

``select`` is run again after every coding session on the same pool: embedding 5,000 responses with MiniLM
takes minutes on 2 cores, reading them back a fraction of a second. The cache is one ``.npz`` per encoder
under ``$SYNTHGRADE_CACHE/embeddings`` (or the user cache folder): texts and their vectors, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthgrade.io import atomic_path, cache_dir, stable_hash

MAX_LENGTH = 128
#: Beyond this many texts the file starts afresh (a cache, not an archive).
DISK_LIMIT = 200_000


def embedding_cache_dir() -> Path:
    return cache_dir() / "embeddings"


def _cache_file(encoder: str, folder: Path) -> Path:
    return folder / f"select-{stable_hash([encoder, MAX_LENGTH], 12)}.npz"


def _read(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return [str(t) for t in data["texts"]], np.asarray(data["vectors"], dtype=np.float32)
    except (OSError, ValueError, KeyError):  # a damaged cache file is only a cache miss
        return [], np.zeros((0, 0), dtype=np.float32)


def response_vectors(texts: Sequence[str], encoder: str, cache_dir: Path | None = None, use_disk: bool = True) -> np.ndarray:
    """L2-normalised embeddings of ``texts`` (via :func:`synthgrade.embed.embed_texts`), cached on disk per encoder."""
    from synthgrade.embed import cached_vectors, embed_texts, remember

    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    if not use_disk:
        return embed_texts(texts, model=encoder, max_length=MAX_LENGTH)
    path = _cache_file(encoder, cache_dir or embedding_cache_dir())
    known = cached_vectors(encoder, MAX_LENGTH)
    missing = {t for t in texts if t not in known}
    stored_texts: list[str] = []
    stored = np.zeros((0, 0), dtype=np.float32)
    if missing and path.exists():
        stored_texts, stored = _read(path)
        if len(stored_texts):
            remember(encoder, MAX_LENGTH, stored_texts, stored)
            missing -= set(stored_texts)
    vectors = embed_texts(texts, model=encoder, max_length=MAX_LENGTH)
    if missing:
        new = sorted(missing)
        new_vectors = embed_texts(new, model=encoder, max_length=MAX_LENGTH)
        if len(stored_texts) + len(new) > DISK_LIMIT or (len(stored) and stored.shape[1] != new_vectors.shape[1]):
            stored_texts, stored = [], np.zeros((0, new_vectors.shape[1]), dtype=np.float32)
        all_texts = stored_texts + new
        all_vectors = np.concatenate([stored.reshape(-1, new_vectors.shape[1]), new_vectors])
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, texts=np.asarray(all_texts), vectors=all_vectors.astype(np.float32))
    return vectors
