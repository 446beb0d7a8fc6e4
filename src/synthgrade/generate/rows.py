"""Synthetic rows: the output columns, parsed candidates from answered calls, and the finished table."""

from __future__ import annotations

import pandas as pd

from synthgrade.data.schema import ID, ITEM_ID, ITEM_TEXT, LABEL, REFERENCE, TEXT
from synthgrade.generate.backends import ChatRequest
from synthgrade.generate.config import GenerationConfig
from synthgrade.generate.groups import Group
from synthgrade.generate.parsing import parse_responses
from synthgrade.generate.prompting import PromptTemplate

PROVENANCE_COLUMNS = (
    "synthetic",
    "backend",
    "model",
    "temperature",
    "top_p",
    "prompt_hash",
    "example_ids",
    "call_index",
    "sample_index",
    "strategy",
    "source_id",
    "source_label",
)
OUTPUT_COLUMNS = (ID, TEXT, LABEL, ITEM_ID, ITEM_TEXT, REFERENCE, *PROVENANCE_COLUMNS)
#: Columns of a parsed candidate: the row, the provenance known at parse time, and private fields for cleaning.
CANDIDATE_COLUMNS = (
    *OUTPUT_COLUMNS[:6],
    *PROVENANCE_COLUMNS[PROVENANCE_COLUMNS.index("example_ids") :],
    *("_key", "_shown", "_source", "_group", "_order", "_truncated"),
)
#: Text columns that hold None, not NaN, where a value is missing.
_OBJECT_COLUMNS = (
    ID,
    TEXT,
    LABEL,
    ITEM_ID,
    ITEM_TEXT,
    REFERENCE,
    "backend",
    "model",
    "prompt_hash",
    "example_ids",
    "strategy",
    "source_id",
    "source_label",
)


def candidate_rows(requests: list[ChatRequest], results: dict[str, dict], group_order: dict[str, int]) -> list[dict]:
    """Every response parsed from the answered, unrefused calls, in :data:`CANDIDATE_COLUMNS`."""
    rows = []
    for request in requests:
        result = results.get(request.key)
        if result is None or result.get("refusal"):
            continue
        group: Group = request.meta["group"]
        parsed = parse_responses(request.meta.get("open_item", "") + (result.get("text") or ""))
        cut = result.get("finish_reason") == "length"  # the last response of a cut-off completion is incomplete
        for sample_index, text in enumerate(parsed):
            rows.append(
                {
                    ID: f"syn-{request.key[:16]}-{sample_index}",
                    TEXT: text,
                    LABEL: group.label,
                    ITEM_ID: group.item_id,
                    ITEM_TEXT: group.item_text,
                    REFERENCE: group.reference,
                    "example_ids": ",".join(request.meta["example_ids"]),
                    "call_index": request.meta["call_index"],
                    "sample_index": sample_index,
                    "strategy": group.strategy.name,
                    "source_id": request.meta.get("source_id"),
                    "source_label": request.meta.get("source_label"),
                    "_key": request.key,
                    "_shown": request.meta["shown"],
                    "_source": request.meta.get("source_text"),
                    "_group": group.name,
                    "_order": (group_order[group.name], request.meta["call_index"], sample_index),
                    "_truncated": cut and sample_index == len(parsed) - 1,
                }
            )
    return rows


def finish_frame(
    kept: pd.DataFrame, config: GenerationConfig, templates: dict[str, PromptTemplate], backend: str
) -> pd.DataFrame:
    """The kept candidates with their run's provenance, in :data:`OUTPUT_COLUMNS` order (private columns last)."""
    frame = kept.copy()
    frame["synthetic"] = True
    frame["backend"] = backend
    frame["model"] = config.model
    frame["temperature"] = float(config.temperature)
    frame["top_p"] = float(config.top_p)
    frame["prompt_hash"] = frame["strategy"].map({name: t.hash for name, t in templates.items()}).astype(object)
    ordered = [c for c in OUTPUT_COLUMNS if c in frame.columns] + [c for c in frame.columns if c.startswith("_")]
    frame = frame[ordered]
    for column in _OBJECT_COLUMNS:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["call_index"] = frame["call_index"].astype("int64")
    frame["sample_index"] = frame["sample_index"].astype("int64")
    frame["synthetic"] = frame["synthetic"].astype(bool)
    return frame.reset_index(drop=True)
