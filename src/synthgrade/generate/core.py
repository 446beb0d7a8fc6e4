"""Label-conditional generation: plan calls per (strategy, item, label), run them through the cache, parse, clean."""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.console import console
from synthgrade.data import check_disjoint, is_synthetic
from synthgrade.data.schema import ID, ITEM_ID, ITEM_TEXT, LABEL, REFERENCE, TEXT, has_items, label_order
from synthgrade.errors import SynthgradeError
from synthgrade.generate.backends import ChatRequest, make_backend, resolve_backend
from synthgrade.generate.cache import CallCache, call_key
from synthgrade.generate.cleaning import REASONS, clean_candidates, prompt_lines
from synthgrade.generate.config import GenerationConfig, default_cache_dir
from synthgrade.generate.diagnostics import synthetic_diagnostics
from synthgrade.generate.parsing import parse_responses
from synthgrade.generate.prompting import (
    PromptTemplate,
    example_lines,
    load_template,
    one_line,
    question_block,
    task_block,
)
from synthgrade.generate.strategies import STRATEGIES, Strategy
from synthgrade.io import redact_url, stable_hash
from synthgrade.registry import REGISTRY

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


@dataclass
class GenerationResult:
    frame: pd.DataFrame
    summary: dict[str, Any]
    removed: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class Group:
    """One (strategy, item, label) cell: human rows of the label (the example pool), the rows a rewriting
    strategy may rewrite (``sources``) and the item's wording."""

    item_id: str | None
    label: str
    item_text: str | None
    reference: str | None
    pool: pd.DataFrame
    strategy: Strategy = STRATEGIES["generate"]
    sources: pd.DataFrame | None = None

    @property
    def name(self) -> str:
        cell = f"{self.item_id}|{self.label}" if self.item_id is not None else self.label
        # generate keeps its old names: they seed the example draws, so cached calls stay addressable.
        return cell if self.strategy.name == "generate" else f"{self.strategy.name}|{cell}"


def _first_text(values: pd.Series) -> str | None:
    return next((v.strip() for v in values if isinstance(v, str) and v.strip()), None)


def plan_groups(
    train: pd.DataFrame, labels: Sequence[str], strategies: Sequence[Strategy] = (STRATEGIES["generate"],)
) -> list[Group]:
    """Cells that have what their strategy needs: examples of the label, or rows to rewrite."""
    items = train.groupby(ITEM_ID, sort=True) if has_items(train) else [(None, train)]
    cells = []
    for item_id, rows in items:
        item_text = _first_text(rows[ITEM_TEXT]) if ITEM_TEXT in rows.columns else None
        reference = _first_text(rows[REFERENCE]) if REFERENCE in rows.columns else None
        cells.append((None if item_id is None else str(item_id), rows, item_text, reference))
    groups = []
    for strategy in strategies:
        for item_id, rows, item_text, reference in cells:
            for label in labels:
                pool = rows[rows[LABEL] == label].sort_values(ID, kind="stable")
                sources = strategy.sources(rows, label).sort_values(ID, kind="stable")
                if len(sources) if strategy.rewrites else len(pool):
                    groups.append(Group(item_id, label, item_text, reference, pool, strategy, sources))
    return groups


def _check_train(train: pd.DataFrame) -> None:
    for column in (TEXT, LABEL):
        if column not in train.columns:
            raise SynthgradeError(f"the training data has no '{column}' column")
    if not len(train):
        raise SynthgradeError("the training data has no rows")
    if is_synthetic(train).any():
        raise SynthgradeError("the training data holds synthetic rows; generate from human-coded rows only")
    if ID not in train.columns:
        raise SynthgradeError("the training data has no 'id' column (load it with synthgrade.data.load_responses)")


#: Embeddings per encoder, kept for the process: sweeps compare the same --exclude and human rows many times.
_EMBEDDINGS: dict[str, dict[str, np.ndarray]] = {}
_MEMO_LIMIT = 200_000


class Embedder:
    """Memoised sentence embeddings (the same texts are compared several times per run and across runs)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._memo = _EMBEDDINGS.setdefault(model, {})
        if len(self._memo) > _MEMO_LIMIT:
            self._memo.clear()

    def __call__(self, texts: list[str]) -> np.ndarray:
        from synthgrade.embed import embed_texts

        missing = sorted({t for t in texts if t not in self._memo})
        if missing:
            for text, vector in zip(missing, embed_texts(missing, self.model), strict=True):
                self._memo[text] = vector
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])


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


def _candidates(requests: list[ChatRequest], results: dict[str, dict], group_order: dict[str, int]) -> list[dict]:
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


SOURCE_PLACEHOLDER = re.compile(r"\$(?:source\b|\{source\})")


def choose_templates(config: GenerationConfig, continues_text: bool) -> dict[str, PromptTemplate]:
    """Each strategy's template: ``--prompt``, else its chat file, or its continuation file for a base model."""
    entry = REGISTRY.get(config.model)
    base_model = entry is not None and not entry.chat
    if base_model and not continues_text:
        raise SynthgradeError(
            f"model '{config.model}' is a base model that needs a continuation prompt; "
            f"the {config.backend} backend sends chat messages only: use --backend local or llamacpp"
        )
    templates = {}
    for name in config.strategy:
        strategy = STRATEGIES[name]
        template = load_template(config.prompt, strategy.base_template if base_model else strategy.template)
        if template.continuation and not continues_text:
            raise SynthgradeError(
                f"{template.source}: a '### prompt' continuation template needs --backend local or llamacpp, not {config.backend}"
            )
        if strategy.rewrites and not SOURCE_PLACEHOLDER.search(template.system + template.user):
            raise SynthgradeError(f"{template.source}: the {name} strategy rewrites one response; its template needs $source")
        if base_model and not template.continuation:
            raise SynthgradeError(
                f"{template.source}: model '{config.model}' is a base model without a chat template; "
                "give it a continuation template (one '### prompt' section)"
            )
        templates[name] = template
    return templates


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
        return _candidates(self.requests, self.results, self.order)

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


Cleaner = Callable[[pd.DataFrame, dict[str, set[str]]], tuple[pd.DataFrame, Counter, pd.DataFrame]]


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


def _call_rounds(plan: CallPlan, runner: Any, clean: Cleaner, show_progress: bool) -> int:
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


def generate_synthetic(
    train: pd.DataFrame,
    config: GenerationConfig,
    exclude: Sequence[pd.DataFrame] = (),
    cache_dir: Path | None = None,
    show_progress: bool = True,
) -> GenerationResult:
    """Generate ``config.per_label`` cleaned synthetic responses per label (per item and label with items)
    for each strategy in ``config.strategy``.

    Only ``train`` (human-coded training rows) feeds the prompts; ``exclude`` tables (validation and
    test) are used only by the leakage guard. Calls go through the cache in ``cache_dir`` (default:
    ``$SYNTHGRADE_CACHE`` or the user cache folder), so a rerun makes no model calls.
    """
    from synthgrade.generate.runner import Budget, CallRunner

    started = time.perf_counter()
    _check_train(train)
    for number, table in enumerate(exclude, start=1):  # the leakage guard also refuses training rows passed as held-out
        check_disjoint(train, table, names=("training", f"--exclude #{number}"))
    labels = train.attrs.get("labels") or label_order(train[LABEL].dropna().astype(str))
    # The engine auto picks is what call keys, provenance and the summary record: the two write different text.
    config = config.model_copy(update={"backend": resolve_backend(config.backend, config.model)})
    backend = make_backend(
        config.backend, config.model, config.base_url, config.batch_size, config.retry.timeout, config.batch, config.api_key_env
    )
    templates = choose_templates(config, backend.continues_text)
    plan = CallPlan(plan_groups(train, labels, [STRATEGIES[name] for name in config.strategy]), config, templates, labels)
    cache = CallCache(cache_dir if cache_dir is not None else default_cache_dir())
    runner = CallRunner(backend, cache, config.retry, config.concurrency, Budget(config.max_requests))
    embed = Embedder(config.embedder) if config.embedder else None
    exclude_frame = pd.concat([f[[TEXT]] for f in exclude], ignore_index=True) if exclude else None

    def clean(frame: pd.DataFrame, prompts: dict[str, set[str]]) -> tuple[pd.DataFrame, Counter, pd.DataFrame]:
        return clean_candidates(frame, train, exclude_frame, config, labels, prompts, embed)

    try:
        rounds_run = _call_rounds(plan, runner, clean, show_progress)
    finally:
        cache.close()
    candidates = pd.DataFrame(plan.candidates(), columns=list(CANDIDATE_COLUMNS))
    if show_progress and embed is not None and len(candidates):
        console.print(f"cleaning {len(candidates):,} candidates (embedding with {config.embedder}) ...", highlight=False)
    kept, removed_counts, removed = clean(candidates, plan.prompts)
    frame = _finish(kept, config, templates, backend.name)
    summary = {
        **_counts_summary(plan, train, candidates, frame, removed, removed_counts),
        **_calls_summary(runner, backend, rounds_run),
        "model": config.model,
        "prompt_hash": templates[config.strategy[0]].hash,
        "labels": list(labels),
        "config": config.public_dict(),
        "diagnostics": synthetic_diagnostics(frame, train, embed),
    }
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
    summary["wall_time_s"] = round(time.perf_counter() - started, 3)
    return GenerationResult(frame, summary, removed.drop(columns=["_shown", "_source", "_order"], errors="ignore"))


def _counts_summary(
    plan: CallPlan,
    train: pd.DataFrame,
    candidates: pd.DataFrame,
    frame: pd.DataFrame,
    removed: pd.DataFrame,
    removed_counts: Counter,
) -> dict[str, Any]:
    """Rows asked for, generated, kept and removed (by reason), overall and per strategy; groups left short."""
    groups, templates, per_label = plan.groups, plan.templates, plan.config.per_label
    kept_per_group = Counter(frame["_group"])
    return {
        "requested": per_label * len(groups),
        "groups": len(groups),
        "groups_without_human_examples": len(plan.labels) * _item_count(train) * len(templates) - len(groups),
        "strategies": list(templates),
        "by_strategy": _by_strategy(groups, candidates, frame, removed, templates, per_label),
        "generated": len(candidates),
        "kept": len(frame),
        "removed": {r: int(removed_counts[r]) for r in REASONS},
        "removed_total": int(sum(removed_counts.values())),
        "short_of_target": {g.name: per_label - kept_per_group[g.name] for g in groups if kept_per_group[g.name] < per_label},
    }


def _calls_summary(runner: Any, backend: Any, rounds_run: int) -> dict[str, Any]:
    stats = runner.stats
    return {
        "cache_hits": stats.cache_hits,
        "model_calls": stats.model_calls,
        "rounds": rounds_run,
        "calls": stats.as_dict(backend.price),
        "budget_exhausted": runner.budget.exhausted and stats.skipped_budget > 0,
        "model_loaded": backend.loaded,
        "wall_time_s": None,
        "backend": backend.name,
    }


def _by_strategy(
    groups: list[Group],
    candidates: pd.DataFrame,
    kept: pd.DataFrame,
    removed: pd.DataFrame,
    templates: dict[str, PromptTemplate],
    per_label: int,
) -> dict[str, dict[str, Any]]:
    """Rows asked for, parsed, kept and removed (by reason) for each strategy of the run."""
    out = {}
    for name, template in templates.items():
        dropped = removed[removed["strategy"] == name] if len(removed) else removed
        reasons = Counter(dropped["reason"]) if len(dropped) else Counter()
        out[name] = {
            "groups": sum(g.strategy.name == name for g in groups),
            "requested": per_label * sum(g.strategy.name == name for g in groups),
            "generated": int((candidates["strategy"] == name).sum()),
            "kept": int((kept["strategy"] == name).sum()),
            "removed": {r: int(reasons[r]) for r in REASONS},
            "removed_total": int(len(dropped)),
            "prompt_hash": template.hash,
        }
    return out


def _item_count(train: pd.DataFrame) -> int:
    return int(train[ITEM_ID].nunique()) if has_items(train) else 1


def _finish(kept: pd.DataFrame, config: GenerationConfig, templates: dict[str, PromptTemplate], backend: str) -> pd.DataFrame:
    frame = kept.copy()
    frame["synthetic"] = True
    frame["backend"] = backend
    frame["model"] = config.model
    frame["temperature"] = float(config.temperature)
    frame["top_p"] = float(config.top_p)
    frame["prompt_hash"] = frame["strategy"].map({name: t.hash for name, t in templates.items()}).astype(object)
    ordered = [c for c in OUTPUT_COLUMNS if c in frame.columns] + [c for c in frame.columns if c.startswith("_")]
    frame = frame[ordered]
    for column in (
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
    ):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["call_index"] = frame["call_index"].astype("int64")
    frame["sample_index"] = frame["sample_index"].astype("int64")
    frame["synthetic"] = frame["synthetic"].astype(bool)
    return frame.reset_index(drop=True)


def failed_generation(summary: dict[str, Any]) -> str | None:
    """Why a run produced nothing because every call failed (the output would be an empty file), or None."""
    calls = summary["calls"]
    if not calls["failed"] or calls["completed"] or summary["cache_hits"]:
        return None
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(calls["failures"].items()))
    return f"every one of the {calls['failed']} calls failed ({kinds}); nothing was generated"


def write_synthetic(result: GenerationResult, path: str | Path) -> Path:
    """Write the rows (.jsonl / .parquet / .csv by extension) and ``<name>.summary.json`` beside them."""
    from synthgrade.data import write_table
    from synthgrade.data.readers import WRITE_SUFFIXES
    from synthgrade.io import write_json

    path = Path(path)
    if path.suffix.lower() not in WRITE_SUFFIXES:
        raise SynthgradeError(f"{path}: write synthetic rows to .jsonl, .parquet, .csv or .tsv")
    write_table(result.frame, path)
    write_json(summary_path(path), result.summary)
    return path


def summary_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + ".summary.json")


__all__ = ["GenerationResult", "failed_generation", "generate_synthetic", "summary_path", "write_synthetic"]
