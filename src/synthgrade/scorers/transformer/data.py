"""Fine-tuning inputs: tokenise once (cached), then length-bucketed shuffled batches with dynamic padding."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.data import label_indices
from synthgrade.data.schema import ID, WHERE, refuse_rows
from synthgrade.io import atomic_path, stable_hash
from synthgrade.modeling import ModelInfo, build_inputs


@dataclass
class EncodedSet:
    """Token ids per row (no padding), integer labels (-1 = unlabeled) and row ids."""

    ids: list[str]
    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray] | None
    labels: np.ndarray
    #: Optional per-row soft targets (teacher probabilities) for distillation.
    targets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self.input_ids))


def row_ids(frame: pd.DataFrame) -> list[str]:
    if ID in frame.columns:
        return [str(v) for v in frame[ID]]
    return [str(w) for w in frame[WHERE]] if WHERE in frame.columns else [f"row {i + 1}" for i in range(len(frame))]


_MEMORY_CACHE: OrderedDict[str, tuple[list[np.ndarray], list[np.ndarray] | None]] = OrderedDict()
_MEMORY_CACHE_SIZE = 16


def tokenizer_key(tokenizer: Any) -> str:
    """Identity of a tokenizer's behaviour (vocabulary and settings), for cache keys."""
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    return stable_hash({"class": type(tokenizer).__name__, "size": len(vocab), "vocab": stable_hash(sorted(vocab.items()))})


def tokenize(
    tokenizer: Any,
    first: Sequence[str],
    second: Sequence[str] | None,
    max_length: int,
    cache_dir: Path | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Token ids for each input (truncated to ``max_length``), cached in memory and optionally on disk."""
    key = stable_hash(
        {
            "tok": getattr(tokenizer, "_synthgrade_key", None) or _remember_key(tokenizer),
            "max": max_length,
            "a": list(first),
            "b": second,
        }
    )
    if key in _MEMORY_CACHE:
        _MEMORY_CACHE.move_to_end(key)
        return _MEMORY_CACHE[key]
    path = Path(cache_dir) / f"tokens-{key}.npz" if cache_dir else None
    result = _load_npz(path) if path is not None and path.exists() else None
    if result is None:
        encoded = tokenizer(
            list(first),
            list(second) if second is not None else None,
            truncation="longest_first",
            max_length=max_length,
            padding=False,
        )
        ids = [np.asarray(x, dtype=np.int64) for x in encoded["input_ids"]]
        types = [np.asarray(x, dtype=np.int64) for x in encoded["token_type_ids"]] if "token_type_ids" in encoded else None
        result = (ids, types)
        if path is not None:
            _save_npz(path, ids, types)
    _MEMORY_CACHE[key] = result
    while len(_MEMORY_CACHE) > _MEMORY_CACHE_SIZE:
        _MEMORY_CACHE.popitem(last=False)
    return result


def _remember_key(tokenizer: Any) -> str:
    key = tokenizer_key(tokenizer)
    try:
        tokenizer._synthgrade_key = key
    except AttributeError:  # some tokenizers refuse new attributes; recompute next time
        pass
    return key


def _save_npz(path: Path, ids: list[np.ndarray], types: list[np.ndarray] | None) -> None:
    offsets = np.cumsum([0] + [len(x) for x in ids])
    arrays = {"ids": np.concatenate(ids) if ids else np.zeros(0, np.int64), "offsets": offsets}
    if types is not None:
        arrays["types"] = np.concatenate(types) if types else np.zeros(0, np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def _load_npz(path: Path) -> tuple[list[np.ndarray], list[np.ndarray] | None] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            offsets = data["offsets"]
            flat = data["ids"]
            ids = [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
            types = None
            if "types" in data:
                flat_types = data["types"]
                types = [flat_types[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
            return ids, types
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache entry is rebuilt


def encode_frame(
    frame: pd.DataFrame,
    info: ModelInfo,
    tokenizer: Any,
    labels: Sequence[str],
    cache_dir: Path | None = None,
    allow_unlabeled: bool = False,
) -> EncodedSet:
    """Build model inputs for every row (pair or response mode) and tokenise them."""
    first, second, problems = build_inputs(frame, info)
    refuse_rows(problems)
    ids, types = tokenize(tokenizer, first, second, info.max_length, cache_dir)
    return EncodedSet(row_ids(frame), ids, types, label_indices(frame, labels, allow_unlabeled))


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, bucket_batches: int = 50
) -> list[np.ndarray]:
    """Shuffled batches of similar-length rows: shuffle, cut into buckets, sort each by length, shuffle batches."""
    order = rng.permutation(len(lengths))
    bucket = max(batch_size, batch_size * bucket_batches)
    batches = []
    for start in range(0, len(order), bucket):
        chunk = order[start : start + bucket]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Deterministic length-sorted batches for evaluation."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(encoded: EncodedSet, index: np.ndarray, pad_id: int) -> dict[str, Any]:
    """Pad one batch to its longest row (dynamic padding) and return torch tensors."""
    import torch

    width = max(len(encoded.input_ids[i]) for i in index)
    input_ids = np.full((len(index), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(index), width), dtype=np.int64)
    types = np.zeros((len(index), width), dtype=np.int64) if encoded.token_type_ids is not None else None
    for row, i in enumerate(index):
        n = len(encoded.input_ids[i])
        input_ids[row, :n] = encoded.input_ids[i]
        mask[row, :n] = 1
        if types is not None:
            types[row, :n] = encoded.token_type_ids[i]
    batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
    if types is not None:
        batch["token_type_ids"] = torch.from_numpy(types)
    return batch


def iterate(encoded: EncodedSet, batches: list[np.ndarray], pad_id: int) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
    for index in batches:
        yield index, collate(encoded, index, pad_id)
