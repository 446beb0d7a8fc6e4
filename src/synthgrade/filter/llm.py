"""LLM re-grading: a rubric prompt that answers JSON {"rationale", "label"}, with majority votes.

The same grader is the LLM baseline scorer (``grader_from_spec("llm:openai:gpt-4o", labels, examples)``),
so re-grading synthetic rows and grading test rows use one prompt and one cache.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.data.schema import ID, ITEM_ID, ITEM_TEXT, LABEL, REFERENCE, TEXT, has_items
from synthgrade.errors import SynthgradeError
from synthgrade.generate.backends import ChatRequest, make_backend, resolve_backend
from synthgrade.generate.cache import CallCache, call_key
from synthgrade.generate.config import BatchPolicy, RetryPolicy, default_cache_dir
from synthgrade.generate.prompting import load_template, task_block
from synthgrade.io import redact_url, stable_hash
from synthgrade.modeling import ModelInfo, Scorer, item_bank_from
from synthgrade.models import DEFAULT_GENERATOR

OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


def _match_label(value: str, labels: Sequence[str]) -> str | None:
    norm = " ".join(re.sub(r"[^\w\s]", " ", value.lower()).split())
    for label in labels:
        if norm == " ".join(re.sub(r"[^\w\s]", " ", label.lower()).split()):
            return label
    return None


def parse_grade(text: str, labels: Sequence[str]) -> str | None:
    """The label in a grader reply: a JSON object (possibly fenced or surrounded by prose), else a lone label word."""
    if not text:
        return None
    candidates = OBJECT.findall(text)
    for blob in candidates:
        try:
            value = json.loads(blob)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict):
            for key in ("label", "score", "grade"):
                if key in value:
                    found = _match_label(str(value[key]), labels)
                    if found is not None:
                        return found
    field = re.search(r'"?(?:label|score|grade)"?\s*[:=]\s*"?([^",}\n]+)', text, re.IGNORECASE)
    if field:
        found = _match_label(field.group(1), labels)
        if found is not None:
            return found
    # A reply that names exactly one label (longest names first so "incorrect" is not read as "correct").
    lowered = text.lower()
    hits = set()
    for label in sorted(labels, key=len, reverse=True):
        pattern = rf"(?<![\w-]){re.escape(label.lower())}(?![\w-])"
        if re.search(pattern, lowered):
            hits.add(label)
            lowered = re.sub(pattern, " ", lowered)
    return hits.pop() if len(hits) == 1 else None


class LLMGrader:
    """Grades (task, response) pairs with ``votes`` samples each, through the call cache."""

    def __init__(
        self,
        labels: Sequence[str],
        examples: pd.DataFrame | None = None,
        backend: str = "local",
        model: str | None = None,
        base_url: str | None = None,
        api_key_env: str | None = None,
        votes: int = 1,
        temperature: float | None = None,
        top_p: float = 1.0,
        max_tokens: int = 160,
        examples_per_label: int = 2,
        prompt: str | Path | None = None,
        concurrency: int = 4,
        batch_size: int = 8,
        max_requests: int | None = None,
        seed: int = 0,
        retry: RetryPolicy | None = None,
        cache_dir: str | Path | None = None,
        batch: BatchPolicy | None = None,
    ) -> None:
        if not labels:
            raise SynthgradeError("the LLM grader needs the label list")
        self.labels = [str(x) for x in labels]
        self.examples = examples
        self.model = model or (DEFAULT_GENERATOR if not backend.startswith("openai") else "")
        if not self.model:
            raise SynthgradeError("the openai grader needs a model name (e.g. llm:openai:gpt-4o)")
        self.backend_name = resolve_backend(backend, self.model)  # cache keys name the engine that answered
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.votes = votes
        self.temperature = temperature if temperature is not None else (0.0 if votes == 1 else 0.7)
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.examples_per_label = examples_per_label
        self.template = load_template(prompt, "grade.txt")
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.max_requests = max_requests
        self.seed = seed
        self.retry = retry or RetryPolicy()
        self.batch = batch or BatchPolicy()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.last_stats: dict[str, Any] = {}

    def _examples_for(self, item_id: str | None) -> str:
        pool = self.examples
        if pool is None or not len(pool) or self.examples_per_label == 0:
            return ""
        if item_id is not None and has_items(pool):
            same = pool[pool[ITEM_ID].astype(str) == item_id]
            pool = same if len(same) else pool.iloc[:0]
        lines = []
        for label in self.labels:
            rows = (
                pool[pool[LABEL].astype(str) == label].sort_values(ID, kind="stable")
                if ID in pool.columns
                else pool[pool[LABEL] == label]
            )
            if not len(rows):
                continue
            seed = int(stable_hash({"seed": self.seed, "item": item_id, "label": label}, length=8), 16)
            take = min(self.examples_per_label, len(rows))
            picked = rows.iloc[sorted(np.random.default_rng(seed).choice(len(rows), size=take, replace=False))]
            lines += [f'- "{" ".join(str(t).split())}" -> {label}' for t in picked[TEXT]]
        return "\nExamples of scored responses:\n" + "\n".join(lines) if lines else ""

    def requests(self, tasks: Sequence[str], items: Sequence[str | None], responses: Sequence[str]) -> list[list[ChatRequest]]:
        example_blocks: dict[str | None, str] = {}
        out = []
        for task, item, response in zip(tasks, items, responses, strict=True):
            if item not in example_blocks:
                example_blocks[item] = self._examples_for(item)
            messages = self.template.render(
                task=task, labels=", ".join(self.labels), examples=example_blocks[item], response=" ".join(str(response).split())
            )
            row = []
            for vote in range(self.votes):
                seed = int(stable_hash({"seed": self.seed, "messages": messages, "vote": vote}, length=8), 16) % (2**31)
                sampling = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens, "seed": seed}
                server = redact_url(self.base_url) if self.base_url else None  # two servers, one model name: other answers
                key = call_key(self.backend_name, self.model, messages, sampling, vote, server=server)
                row.append(ChatRequest(key, messages, self.temperature, self.top_p, self.max_tokens, seed))
            out.append(row)
        return out

    def grade(
        self, tasks: Sequence[str], items: Sequence[str | None], responses: Sequence[str], show_progress: bool = True
    ) -> list[list[str | None]]:
        """Per row, the label of each vote (None for a failed, refused or unparsable reply)."""
        from synthgrade.generate.call_stats import Budget
        from synthgrade.generate.runner import CallRunner

        per_row = self.requests(tasks, items, responses)
        backend = make_backend(
            self.backend_name, self.model, self.base_url, self.batch_size, self.retry.timeout, self.batch, self.api_key_env
        )
        cache = CallCache(self.cache_dir)
        runner = CallRunner(backend, cache, self.retry, self.concurrency, Budget(self.max_requests))
        try:
            results = runner.run([r for row in per_row for r in row], "grading", show_progress)
        finally:
            cache.close()
        votes = []
        unparsed = 0
        for row in per_row:
            labels = []
            for request in row:
                result = results.get(request.key)
                label = parse_grade(result["text"], self.labels) if result and not result.get("refusal") else None
                unparsed += result is not None and label is None
                labels.append(label)
            votes.append(labels)
        self.last_stats = {**runner.stats.as_dict(backend.price), "unparsed_replies": unparsed, "model_loaded": backend.loaded}
        return votes

    def frame_inputs(self, frame: pd.DataFrame) -> tuple[list[str], list[str | None]]:
        """Task block and item id per row: the row's own wording, else the examples' item bank."""
        bank = item_bank_from(self.examples) if self.examples is not None else {}
        tasks, items = [], []
        for _, row in frame.iterrows():
            item = row.get(ITEM_ID)
            item = str(item) if isinstance(item, str) and item else None
            item_text = row.get(ITEM_TEXT) if isinstance(row.get(ITEM_TEXT), str) else None
            reference = row.get(REFERENCE) if isinstance(row.get(REFERENCE), str) else None
            if item_text is None and reference is None and item in bank:
                item_text, reference = bank[item].item_text, bank[item].reference
            tasks.append(task_block(item_text, reference))
            items.append(item)
        return tasks, items


def majority(votes: Sequence[str | None]) -> str | None:
    """The most frequent parsed label; None on a tie or when no vote parsed."""
    counts = Counter(v for v in votes if v is not None)
    if not counts:
        return None
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


class LLMGraderScorer(Scorer):
    """The LLM baseline as a :class:`Scorer`: probabilities are vote shares (uniform when no vote parsed)."""

    kind = "llm"

    def __init__(self, grader: LLMGrader, info: ModelInfo, show_progress: bool = False) -> None:
        self.grader = grader
        # the grader's settings are its "weights": recorded in synthgrade.json, read back by load_weights
        self.info = info.model_copy(update={"provenance": {**info.provenance, "grader": self.options()}})
        self.show_progress = show_progress

    def _proba(self, votes: list[list[str | None]]) -> np.ndarray:
        out = np.full((len(votes), len(self.labels)), 1.0 / len(self.labels))
        index = {label: i for i, label in enumerate(self.labels)}
        for row, row_votes in enumerate(votes):
            parsed = [v for v in row_votes if v is not None]
            if parsed:
                out[row] = 0.0
                for v in parsed:
                    out[row, index[v]] += 1.0 / len(parsed)
        return out

    def predict_proba(self, frame: pd.DataFrame, batch_size: int = 64) -> np.ndarray:
        if TEXT not in frame.columns:
            raise SynthgradeError("the data has no text column (map it with --text-col)")
        if not len(frame):
            return np.zeros((0, len(self.labels)))
        tasks, items = self.grader.frame_inputs(frame)
        return self._proba(self.grader.grade(tasks, items, [str(t) for t in frame[TEXT]], self.show_progress))

    def predict_proba_inputs(self, first: Sequence[str], second: Sequence[str] | None, batch_size: int = 64) -> np.ndarray:
        if second is None:
            tasks, responses = [task_block(None, None)] * len(first), list(first)
        else:
            tasks, responses = list(first), list(second)
        return self._proba(self.grader.grade(tasks, [None] * len(responses), responses, self.show_progress))

    def save_weights(self, directory: Path) -> None:
        """A grader is a spec (in ``synthgrade.json``) plus its few-shot examples: no weights."""
        from synthgrade.data import write_table

        if self.grader.examples is not None:
            write_table(self.grader.examples, directory / "examples.jsonl")

    def options(self) -> dict[str, Any]:
        g = self.grader
        return {
            "backend": g.backend_name,
            "model": g.model,
            "base_url": g.base_url,
            "votes": g.votes,
            "temperature": g.temperature,
            "examples_per_label": g.examples_per_label,
            "prompt_hash": g.template.hash,
            "seed": g.seed,
        }

    @classmethod
    def load_weights(cls, directory: Path, info: ModelInfo) -> LLMGraderScorer:
        from synthgrade.data import load_responses

        options = dict(info.provenance.get("grader", {}))
        options.pop("prompt_hash", None)
        examples = load_responses(directory / "examples.jsonl") if (directory / "examples.jsonl").exists() else None
        grader = LLMGrader(info.labels, examples, **options)
        return cls(grader, info)


def grader_from_spec(spec: str, labels: Sequence[str], examples: pd.DataFrame | None = None, **options: Any) -> LLMGraderScorer:
    """``llm:<backend>:<model>`` (``llm:local:smollm2-135m``, ``llm:openai:gpt-4o``) as a Scorer.

    ``examples`` are human-coded training rows used as few-shot examples (never test rows);
    ``options`` are :class:`LLMGrader` arguments (base_url, votes, temperature, cache_dir, ...).
    """
    parts = spec.split(":", 2)
    if len(parts) < 2 or parts[0] != "llm" or parts[1] not in {"local", "openai", "openai-batch", "llamacpp"}:
        raise SynthgradeError(f"bad grader spec '{spec}': use llm:<local|openai|openai-batch|llamacpp>[:<model>]")
    backend = parts[1]
    model = parts[2] if len(parts) == 3 and parts[2] else None
    show_progress = bool(options.pop("show_progress", False))
    grader = LLMGrader(labels, examples, backend=backend, model=model, **options)
    pair = examples is not None and any(c in examples.columns and examples[c].notna().any() for c in (ITEM_TEXT, REFERENCE))
    info = ModelInfo(
        kind="llm",
        labels=list(grader.labels),
        input_mode="pair" if pair else "response",
        item_bank=item_bank_from(examples) if examples is not None else {},
        base_model=spec,
    )
    return LLMGraderScorer(grader, info, show_progress)
