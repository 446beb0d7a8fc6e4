"""One model call of a group: the examples it shows, the row it rewrites, its messages and its cache key."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from synthgrade.data.schema import ID, LABEL, TEXT
from synthgrade.generate.backends import ChatRequest
from synthgrade.generate.cache import call_key
from synthgrade.generate.config import GenerationConfig
from synthgrade.generate.groups import Group
from synthgrade.generate.prompting import PromptTemplate, example_lines, one_line, question_block, task_block
from synthgrade.io import redact_url, stable_hash

#: The bare list marker a continuation prompt may end with; the completion continues that list item.
OPEN_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d{1,3}[.)])\s*$")


def pick_source(group: Group, call_index: int, seed: int) -> pd.Series | None:
    """The human row call ``call_index`` rewrites: every source once (in a seeded order) before any twice."""
    if not group.strategy.rewrites or group.sources is None or not len(group.sources):
        return None
    order_seed = int(stable_hash({"seed": seed, "group": group.name, "sources": True}, length=8), 16)
    order = np.random.default_rng(order_seed).permutation(len(group.sources))
    return group.sources.iloc[int(order[call_index % len(order)])]


def build_request(
    group: Group, call_index: int, config: GenerationConfig, template: PromptTemplate, labels: Sequence[str]
) -> ChatRequest:
    seed = int(stable_hash({"seed": config.seed, "group": group.name, "call": call_index}, length=8), 16)
    rng = np.random.default_rng(seed)
    take = min(config.examples, len(group.pool)) if group.strategy.show_examples else 0
    chosen = group.pool.iloc[sorted(rng.choice(len(group.pool), size=take, replace=False))] if take else group.pool.iloc[:0]
    shown = [str(t) for t in chosen[TEXT]]
    source = pick_source(group, call_index, config.seed)
    source_text = one_line(source[TEXT]) if source is not None else None
    messages = template.render(
        task=task_block(group.item_text, group.reference),
        question=question_block(group.item_text),
        label=group.label,
        labels=", ".join(labels),
        examples=example_lines(shown),
        n=config.per_call,
        source=source_text or "",
        source_label=str(source[LABEL]) if source is not None else "",
    )
    sampling = {"temperature": config.temperature, "top_p": config.top_p, "max_tokens": config.max_tokens, "seed": seed % (2**31)}
    # Two servers may serve different models under one name: the (credential-free) server is part of the key.
    server = redact_url(config.base_url) if config.base_url else None
    strategy = group.strategy.name
    key = call_key(config.backend, config.model, messages, sampling, call_index, strategy, template.continuation, server)
    last_line = messages[-1]["content"].rsplit("\n", 1)[-1]
    return ChatRequest(
        key=key,
        messages=messages,
        temperature=config.temperature,
        top_p=config.top_p,
        max_tokens=config.max_tokens,
        seed=seed % (2**31),
        meta={
            "group": group,
            "call_index": call_index,
            "example_ids": [str(i) for i in chosen[ID]],
            "shown": shown,
            "source_id": str(source[ID]) if source is not None else None,
            "source_label": str(source[LABEL]) if source is not None else None,
            "source_text": source_text,
            "open_item": last_line + " " if template.continuation and OPEN_ITEM.match(last_line) else "",
        },
        continuation=template.continuation,
    )
