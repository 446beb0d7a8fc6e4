"""Model inputs from response rows: the item context (wording + reference answer) and the response, or the
response alone, and the rows that cannot be scored (:class:`~synthgrade.data.RowProblem`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from synthgrade.data.schema import ITEM_ID, ITEM_TEXT, REFERENCE, TEXT, WHERE, RowProblem, has_items
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.modeling.info import InputMode, ItemEntry, ModelInfo

#: What joins an item's wording and its reference answer into one context (scorers split on it again).
REFERENCE_MARK = " Reference: "


def item_bank_from(frame: pd.DataFrame) -> dict[str, ItemEntry]:
    """item_id -> (item_text, reference) from human rows, so later scoring needs only the item id."""
    if not has_items(frame):
        return {}
    bank: dict[str, ItemEntry] = {}
    columns = [c for c in (ITEM_TEXT, REFERENCE) if c in frame.columns]
    for item_id, group in frame.groupby(ITEM_ID, sort=True):
        values = {c: next((v for v in group[c] if isinstance(v, str) and v.strip()), None) for c in columns}
        bank[str(item_id)] = ItemEntry(**values)
    return bank


def choose_input_mode(requested: str, frame: pd.DataFrame) -> InputMode:
    """``auto`` means the (item_text + reference, response) pair when the data has item wording."""
    if requested not in {"auto", "response", "pair"}:
        raise ParameterError("input", f"must be auto, response or pair, got {requested!r}")
    has_context = any(c in frame.columns and frame[c].notna().any() for c in (ITEM_TEXT, REFERENCE))
    if requested == "pair" and not has_context:
        raise ParameterError("input", "pair needs item_text or reference columns (map them with --item-text-col/--reference-col)")
    if requested == "auto":
        return "pair" if has_context else "response"
    return requested  # type: ignore[return-value]


def item_context(item_text: str | None, reference: str | None) -> str:
    """The pair-mode context: the item's wording and reference answer joined by :data:`REFERENCE_MARK`."""
    parts = [p.strip() for p in (item_text, reference) if isinstance(p, str) and p.strip()]
    return REFERENCE_MARK.join(parts)


def context_parts(context: str) -> tuple[str, str]:
    """(item wording, reference answer) of a context :func:`item_context` made; either stands in for a missing other."""
    wording, mark, reference = context.partition(REFERENCE_MARK)
    if not mark:
        return context, context
    return wording or reference, reference or wording


def build_inputs(frame: pd.DataFrame, info: ModelInfo) -> tuple[list[str], list[str] | None, list[RowProblem]]:
    """Model inputs for each row: (first texts, second texts or None, problems for rows that cannot be scored).

    In pair mode the first text is the item context (wording + reference answer) and the second the
    response; the context comes from the row itself or, failing that, from the model's item bank.
    """
    if TEXT not in frame.columns:
        raise SynthgradeError("the data has no text column (map it with --text-col)")
    missing = [None] * len(frame)
    return inputs_from_columns(
        info,
        frame[TEXT].tolist(),
        frame[ITEM_ID].tolist() if ITEM_ID in frame.columns else missing,
        frame[ITEM_TEXT].tolist() if ITEM_TEXT in frame.columns else missing,
        frame[REFERENCE].tolist() if REFERENCE in frame.columns else missing,
        frame[WHERE].tolist() if WHERE in frame.columns else None,
    )


def inputs_from_columns(
    info: ModelInfo,
    texts: Sequence[Any],
    item_ids: Sequence[Any],
    item_texts: Sequence[Any],
    references: Sequence[Any],
    where: Sequence[str] | None = None,
) -> tuple[list[str], list[str] | None, list[RowProblem]]:
    """:func:`build_inputs` over plain columns (no table to build: the scoring service's hot path)."""
    problems: list[RowProblem] = []
    where = where if where is not None else [f"row {i + 1}" for i in range(len(texts))]
    cleaned = []
    for row, (loc, text) in enumerate(zip(where, texts, strict=True)):
        if not isinstance(text, str) or not text.strip():
            problems.append(RowProblem(row, loc, "empty or whitespace-only text"))
            cleaned.append("")
        else:
            cleaned.append(text)
    if info.input_mode == "response":
        return cleaned, None, problems
    contexts = []
    for row, (loc, item_id, item_text, reference) in enumerate(zip(where, item_ids, item_texts, references, strict=True)):
        context = item_context(item_text, reference)
        if not context:
            entry = info.item_bank.get(str(item_id)) if isinstance(item_id, str) and item_id else None
            if entry is None:
                known = "no item_id" if not isinstance(item_id, str) or not item_id else f"unknown item_id '{item_id}'"
                needs = "this model scores (item, response) pairs and needs a known item or its wording"
                problems.append(RowProblem(row, loc, f"{known}; {needs}"))
            else:
                context = item_context(entry.item_text, entry.reference)
        contexts.append(context)
    return contexts, cleaned, problems
