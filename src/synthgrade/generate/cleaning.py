"""Cleaning parsed candidates: every removed row gets exactly one reason, and every reason is counted.

Order: the cut-off last response of a completion that hit max_tokens, echoes of the prompt, length
bounds, copies of the response a paraphrase or contrast call rewrote, copies of the shown examples,
label conflicts with human rows, exact leakage into --exclude rows, copies of human training rows,
exact duplicates; then, with sentence embeddings, near leakage, near copies of shown examples and
near duplicates; finally rows beyond the wanted number per group.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from synthgrade.data.schema import ITEM_ID, LABEL, TEXT
from synthgrade.generate.config import GenerationConfig

REASONS = (
    "truncated",
    "echo",
    "length",
    "source_copy",
    "example_copy",
    "label_conflict",
    "leakage",
    "copy_of_human",
    "exact_duplicate",
    "near_duplicate",
    "over_target",
)
META = re.compile(
    r"^(?:here (?:are|is)|sure\b|certainly\b|of course\b|okay\b|below (?:are|is)|the following\b|these are\b|"
    r"the examples?\b|examples? of\b|new (?:student )?responses?\b|responses? that\b|student responses?\b|"
    r"write \d+|i (?:hope|wrote|have written)\b|note:|\(?none\)?$|question:|reference answer:|task:)",
    re.IGNORECASE,
)

SCORED = re.compile(
    r"\b(?:scored|marked|graded|labell?ed) as\b|\bthe teacher (?:scored|marked|graded)\b"
    r"|\b(?:from|than|to|unlike) the examples?\b|\bthe examples? (?:given|above|shown|provided)\b"
    r"|\banother (?:possible |new )?(?:\w+ )?(?:answer|response)\b",
    re.IGNORECASE,
)


def normalise(text: str) -> str:
    """Lower case, punctuation removed, whitespace collapsed: the key for exact comparisons."""
    return " ".join(re.sub(r"[^\w\s]", " ", str(text).lower()).split())


def prompt_lines(messages: list[dict[str, str]], shown: Sequence[str]) -> set[str]:
    """Normalised lines of the prompt's own wording (instructions, item, reference), examples excluded."""
    shown_norm = {normalise(s) for s in shown}
    lines = set()
    for message in messages:
        for line in message["content"].split("\n"):
            norm = normalise(line)
            if norm and norm not in shown_norm:
                lines.add(norm)
    return lines


def is_echo(text: str, prompt: set[str], labels: Sequence[str]) -> bool:
    norm = normalise(text)
    if not norm:
        return True
    label_norms = {normalise(label) for label in labels}
    if norm in label_norms or META.match(text.strip()) or SCORED.search(text):
        return True
    # A label name in quotes or as a "Label:" prefix is talk about the task, not an answer.
    for label in labels:
        if re.search(rf"[\"'“”‘’]{re.escape(label)}[\"'“”‘’]", text, re.IGNORECASE) or re.match(
            rf"\s*{re.escape(label)}\s*:", text, re.IGNORECASE
        ):
            return True
    # "Score: correct", "(incorrect)", "Label - partially correct" and the like
    stripped = re.sub(r"^(?:label|score|grade|category|class)\s*", "", norm)
    if stripped in label_norms:
        return True
    for label in label_norms:
        if re.search(rf"\b{re.escape(label)} (?:answers?|responses?|examples?)\b", norm) and re.search(r"[A-Z]{4,}|:\s*$", text):
            return True
    if norm in prompt:
        return True
    for line in prompt:
        if len(line) >= 25 and (line in norm or (norm in line and len(norm) >= 0.8 * len(line))):
            return True
    return False


def greedy_unique(embeddings: np.ndarray, threshold: float) -> np.ndarray:
    """Keep mask: a row is dropped when it is at least ``threshold`` similar to an earlier kept row."""
    keep = np.ones(len(embeddings), dtype=bool)
    kept: list[int] = []
    for i in range(len(embeddings)):
        if kept and float((embeddings[kept] @ embeddings[i]).max()) >= threshold:
            keep[i] = False
        else:
            kept.append(i)
    return keep


def _mark(reason: list[str | None], i: int, why: str) -> None:
    """Record the first reason a row is dropped; later rules do not overwrite it."""
    if reason[i] is None:
        reason[i] = why


def _human_labels(human: pd.DataFrame) -> dict[tuple, set[str]]:
    """Labels of each human response by (item or None, normalised text)."""
    human_items = human[ITEM_ID].tolist() if ITEM_ID in human.columns else [None] * len(human)
    by_norm: dict[tuple, set[str]] = {}
    for text, label, item in zip(human[TEXT], human[LABEL], human_items, strict=True):
        by_norm.setdefault((item if isinstance(item, str) else None, normalise(text)), set()).add(str(label))
    return by_norm


def _text_rules(
    frame: pd.DataFrame,
    reason: list[str | None],
    human: pd.DataFrame,
    exclude_norms: set[str],
    config: GenerationConfig,
    labels: Sequence[str],
    prompts: dict[str, set[str]],
) -> None:
    """The rules on the text itself, in order: truncated, echo, length, copies, label conflict, leakage, duplicates."""
    norms = [normalise(t) for t in frame[TEXT]]
    items = frame[ITEM_ID].tolist() if ITEM_ID in frame.columns else [None] * len(frame)
    truncated = frame["_truncated"].fillna(False).astype(bool).tolist() if "_truncated" in frame.columns else [False] * len(frame)
    sources = [normalise(t) if isinstance(t, str) else None for t in frame["_source"]] if "_source" in frame.columns else []
    human_by_norm = _human_labels(human)
    sets = _synthetic_sets(frame)
    seen: set[tuple] = set()
    for i, (text, norm, label, item, key, shown) in enumerate(
        zip(frame[TEXT], norms, frame[LABEL], items, frame["_key"], frame["_shown"], strict=True)
    ):
        item = item if isinstance(item, str) else None
        words = len(norm.split())
        if truncated[i]:
            _mark(reason, i, "truncated")
        elif is_echo(text, prompts.get(key, set()), labels):
            _mark(reason, i, "echo")
        elif len(text) < config.min_chars or len(text) > config.max_chars or words < config.min_words:
            _mark(reason, i, "length")
        elif sources and norm == sources[i]:
            _mark(reason, i, "source_copy")
        elif norm in {normalise(s) for s in shown}:
            _mark(reason, i, "example_copy")
        elif (human_by_norm.get((item, norm), set()) - {label}) or (
            item is not None and human_by_norm.get((None, norm), set()) - {label}
        ):
            _mark(reason, i, "label_conflict")
        elif norm in exclude_norms:
            _mark(reason, i, "leakage")
        elif (item, norm) in human_by_norm:
            _mark(reason, i, "copy_of_human")
        elif (sets[i], item, norm) in seen:
            _mark(reason, i, "exact_duplicate")
        else:
            seen.add((sets[i], item, norm))


def _synthetic_sets(frame: pd.DataFrame) -> list[object]:
    """The set each row belongs to: its strategy. Strategies generated in one run are separate synthetic sets
    (each is filtered, mixed and judged on its own), so a row is a duplicate only of rows of its own set."""
    return frame["strategy"].tolist() if "strategy" in frame.columns else [None] * len(frame)


def _embedding_rules(
    frame: pd.DataFrame,
    reason: list[str | None],
    exclude: pd.DataFrame | None,
    config: GenerationConfig,
    embed: Callable[[list[str]], np.ndarray],
) -> None:
    """The rules on meaning, for rows still kept: close to a held-out response, to a shown example, or to each other."""
    alive = [i for i in range(len(frame)) if reason[i] is None]
    if not alive:
        return
    vectors = embed([frame[TEXT][i] for i in alive])
    if exclude is not None and len(exclude):
        excluded = embed(list(exclude[TEXT]))
        best = (vectors @ excluded.T).max(axis=1)
        for j, i in enumerate(alive):
            if best[j] >= config.leakage_threshold:
                _mark(reason, i, "leakage")
    shown_texts = sorted({s for i in alive for s in frame["_shown"][i]})
    if shown_texts:
        shown_vectors = embed(shown_texts)
        position = {s: n for n, s in enumerate(shown_texts)}
        for j, i in enumerate(alive):
            own = [position[s] for s in frame["_shown"][i]]
            if reason[i] is None and own and float((shown_vectors[own] @ vectors[j]).max()) >= config.example_copy_threshold:
                _mark(reason, i, "example_copy")
    items = frame[ITEM_ID].tolist() if ITEM_ID in frame.columns else [None] * len(frame)
    sets = _synthetic_sets(frame)
    by_item: dict[object, list[int]] = {}
    for j, i in enumerate(alive):
        if reason[i] is None:
            by_item.setdefault((sets[i], items[i] if isinstance(items[i], str) else None), []).append(j)
    for positions in by_item.values():
        keep = greedy_unique(vectors[positions], config.near_duplicate)
        for j, kept in zip(positions, keep, strict=True):
            if not kept:
                _mark(reason, alive[j], "near_duplicate")


def clean_candidates(
    candidates: pd.DataFrame,
    human: pd.DataFrame,
    exclude: pd.DataFrame | None,
    config: GenerationConfig,
    labels: Sequence[str],
    prompts: dict[str, set[str]],
    embed: Callable[[list[str]], np.ndarray] | None,
) -> tuple[pd.DataFrame, Counter, pd.DataFrame]:
    """(kept rows, removal counts by reason, removed rows with a ``reason`` column).

    ``candidates`` needs text, label, item_id, ``_key`` (call key), ``_shown`` (texts of the examples
    shown), ``_group`` and ``_order``, and may have ``_source`` (the response a call rewrote);
    ``prompts`` maps call keys to :func:`prompt_lines`.
    """
    frame = candidates.sort_values("_order", kind="stable").reset_index(drop=True)
    reason: list[str | None] = [None] * len(frame)
    exclude_norms = {normalise(t) for t in exclude[TEXT]} if exclude is not None and len(exclude) else set()
    _text_rules(frame, reason, human, exclude_norms, config, labels, prompts)
    if embed is not None:
        _embedding_rules(frame, reason, exclude, config, embed)
    counts_by_group: Counter = Counter()
    for i, group in enumerate(frame["_group"]):
        if reason[i] is None:
            counts_by_group[group] += 1
            if counts_by_group[group] > config.per_label:
                _mark(reason, i, "over_target")
    frame["reason"] = pd.Series(reason, index=frame.index, dtype=object)
    removed = frame[frame["reason"].notna()].reset_index(drop=True)
    kept = frame[frame["reason"].isna()].drop(columns="reason").reset_index(drop=True)
    counts = Counter({r: int((removed["reason"] == r).sum()) for r in REASONS})
    return kept, counts, removed
