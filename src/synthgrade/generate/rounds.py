"""Rounds of calls: a full round first, then top-ups for the groups cleaning left short of ``per_label``."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from synthgrade.generate.backends import ChatRequest
from synthgrade.generate.calls import build_request
from synthgrade.generate.cleaning import prompt_lines
from synthgrade.generate.config import GenerationConfig
from synthgrade.generate.groups import Group
from synthgrade.generate.prompting import PromptTemplate
from synthgrade.generate.rows import candidate_rows

#: (candidates, prompt lines per call key) -> (kept rows, removal counts by reason, removed rows).
Cleaner = Callable[[pd.DataFrame, dict[str, set[str]]], tuple[pd.DataFrame, Counter, pd.DataFrame]]


@dataclass
class CallPlan:
    """The calls of one run over its rounds: the groups, how many calls each has made, every request and answer."""

    groups: list[Group]
    config: GenerationConfig
    templates: dict[str, PromptTemplate]
    labels: Sequence[str]
    requests: list[ChatRequest] = field(default_factory=list)
    results: dict[str, dict] = field(default_factory=dict)
    #: The prompt lines of each request (the cleaning drops responses that echo them).
    prompts: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.next_call = {g.name: 0 for g in self.groups}
        self.order = {g.name: n for n, g in enumerate(self.groups)}

    @property
    def calls_per_group(self) -> int:
        return math.ceil(self.config.per_label / self.config.per_call)

    def candidates(self) -> list[dict]:
        """Every parsed response so far (before cleaning)."""
        return candidate_rows(self.requests, self.results, self.order)

    def new_requests(self, wanted: dict[str, int]) -> list[ChatRequest]:
        """``wanted[group]`` more calls for each group, numbered on from the calls it has made."""
        requests = []
        for group in self.groups:
            for _ in range(wanted.get(group.name, 0)):
                template = self.templates[group.strategy.name]
                request = build_request(group, self.next_call[group.name], self.config, template, self.labels)
                self.next_call[group.name] += 1
                # The rewritten response is the prompt's own line: a copy of it is a source_copy, not an echo.
                quoted = [*request.meta["shown"], *([request.meta["source_text"]] if request.meta["source_text"] else [])]
                self.prompts[request.key] = prompt_lines(request.messages, quoted)
                requests.append(request)
        return requests


def _wanted(plan: CallPlan, round_index: int, clean: Cleaner) -> dict[str, int]:
    """Calls per group for this round: a full round first, then top-ups for groups cleaning left short."""
    config = plan.config
    rows = plan.candidates() if round_index > 0 else []
    if not rows:
        wanted = {g.name: plan.calls_per_group for g in plan.groups}
    else:
        kept, _, _ = clean(pd.DataFrame(rows), plan.prompts)
        have = Counter(kept["_group"])
        wanted = {
            g.name: math.ceil((config.per_label - have[g.name]) / config.per_call)
            for g in plan.groups
            if have[g.name] < config.per_label
        }
    return {name: n for name, n in wanted.items() if n > 0}


def call_rounds(plan: CallPlan, runner: Any, clean: Cleaner, show_progress: bool) -> int:
    """Run rounds of calls until every group has ``per_label`` clean rows, rounds or budget run out; returns rounds run."""
    rounds_run = 0
    for round_index in range(plan.config.max_rounds):
        wanted = _wanted(plan, round_index, clean)
        if not wanted or (round_index > 0 and runner.budget.exhausted):
            break  # round 0 always goes through the runner, which counts the calls a budget skips
        requests = plan.new_requests(wanted)
        rounds_run += 1
        label = "generating" if round_index == 0 else f"topping up (round {round_index + 1})"
        plan.results.update(runner.run(requests, label, show_progress))
        plan.requests.extend(requests)
    return rounds_run
