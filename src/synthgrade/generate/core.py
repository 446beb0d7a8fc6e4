"""Label-conditional generation: plan calls per (strategy, item, label), run them through the cache, parse, clean."""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.console import console
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
from synthgrade.io import stable_hash
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
    if "synthetic" in train.columns and train["synthetic"].fillna(False).astype(bool).any():
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
    key = call_key(config.backend, config.model, messages, sampling, call_index, group.strategy.name, template.continuation)
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
    started = time.perf_counter()
    _check_train(train)
    labels = train.attrs.get("labels") or label_order(train[LABEL].dropna().astype(str))
    # The engine auto picks is what call keys, provenance and the summary record: the two write different text.
    config = config.model_copy(update={"backend": resolve_backend(config.backend, config.model)})
    backend = make_backend(config.backend, config.model, config.base_url, config.batch_size, config.retry.timeout, config.batch)
    templates = choose_templates(config, backend.continues_text)
    groups = plan_groups(train, labels, [STRATEGIES[name] for name in config.strategy])
    group_order = {g.name: n for n, g in enumerate(groups)}
    cache = CallCache(cache_dir if cache_dir is not None else default_cache_dir())
    from synthgrade.generate.runner import Budget, CallRunner

    runner = CallRunner(backend, cache, config.retry, config.concurrency, Budget(config.max_requests))
    embed = Embedder(config.embedder) if config.embedder else None
    exclude_frame = pd.concat([f[[TEXT]] for f in exclude], ignore_index=True) if exclude else None
    per_round = math.ceil(config.per_label / config.per_call)
    next_call = {g.name: 0 for g in groups}
    all_requests: list[ChatRequest] = []
    results: dict[str, dict] = {}
    prompts: dict[str, set[str]] = {}
    rounds_run = 0
    try:
        for round_index in range(config.max_rounds):
            if round_index == 0:
                wanted = {g.name: per_round for g in groups}
            else:
                # Top up groups that cleaning leaves with fewer than per_label rows.
                rows = _candidates(all_requests, results, group_order)
                if not rows:
                    wanted = {g.name: per_round for g in groups}
                else:
                    kept, _, _ = clean_candidates(pd.DataFrame(rows), train, exclude_frame, config, labels, prompts, embed)
                    have = Counter(kept["_group"])
                    wanted = {
                        g.name: math.ceil((config.per_label - have[g.name]) / config.per_call)
                        for g in groups
                        if have[g.name] < config.per_label
                    }
                wanted = {name: n for name, n in wanted.items() if n > 0}
            if not wanted or (round_index > 0 and runner.budget.exhausted):
                break  # round 0 always goes through the runner, which counts the calls a budget skips
            requests = []
            for group in groups:
                for _ in range(wanted.get(group.name, 0)):
                    request = build_request(group, next_call[group.name], config, templates[group.strategy.name], labels)
                    next_call[group.name] += 1
                    # The rewritten response is the prompt's own line: a copy of it is a source_copy, not an echo.
                    quoted = [*request.meta["shown"], *([request.meta["source_text"]] if request.meta["source_text"] else [])]
                    prompts[request.key] = prompt_lines(request.messages, quoted)
                    requests.append(request)
            rounds_run += 1
            label = "generating" if round_index == 0 else f"topping up (round {round_index + 1})"
            results.update(runner.run(requests, label, show_progress))
            all_requests.extend(requests)
    finally:
        cache.close()
    rows = _candidates(all_requests, results, group_order)
    candidates = pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))
    if show_progress and embed is not None and len(candidates):
        console.print(f"cleaning {len(candidates):,} candidates (embedding with {config.embedder}) ...", highlight=False)
    kept, removed_counts, removed = clean_candidates(candidates, train, exclude_frame, config, labels, prompts, embed)
    frame = _finish(kept, config, templates, backend.name)
    requested = config.per_label * len(groups)
    stats = runner.stats
    summary = {
        "requested": requested,
        "groups": len(groups),
        "groups_without_human_examples": len(labels) * _item_count(train) * len(templates) - len(groups),
        "strategies": list(templates),
        "by_strategy": _by_strategy(groups, candidates, frame, removed, templates, config.per_label),
        "generated": len(candidates),
        "kept": len(frame),
        "removed": {r: int(removed_counts[r]) for r in REASONS},
        "removed_total": int(sum(removed_counts.values())),
        "short_of_target": {
            g.name: config.per_label - int((frame["_group"] == g.name).sum())
            for g in groups
            if int((frame["_group"] == g.name).sum()) < config.per_label
        },
        "cache_hits": stats.cache_hits,
        "model_calls": stats.model_calls,
        "rounds": rounds_run,
        "calls": stats.as_dict(backend.price),
        "budget_exhausted": runner.budget.exhausted and stats.skipped_budget > 0,
        "model_loaded": backend.loaded,
        "wall_time_s": None,
        "backend": backend.name,
        "model": config.model,
        "prompt_hash": templates[config.strategy[0]].hash,
        "labels": list(labels),
        "config": config.public_dict(),
        "diagnostics": synthetic_diagnostics(frame, train, embed),
    }
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
    summary["wall_time_s"] = round(time.perf_counter() - started, 3)
    return GenerationResult(frame, summary, removed.drop(columns=["_shown", "_source", "_order"], errors="ignore"))


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
    for column in (ID, TEXT, LABEL, ITEM_ID, ITEM_TEXT, REFERENCE, "backend", "model", "prompt_hash", "example_ids",
                   "strategy", "source_id", "source_label"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["call_index"] = frame["call_index"].astype("int64")
    frame["sample_index"] = frame["sample_index"].astype("int64")
    frame["synthetic"] = frame["synthetic"].astype(bool)
    return frame.reset_index(drop=True)


def write_synthetic(result: GenerationResult, path: str | Path) -> Path:
    """Write the rows (.jsonl / .parquet / .csv by extension) and ``<name>.summary.json`` beside them."""
    from synthgrade.data import write_table
    from synthgrade.io import write_json

    path = Path(path)
    if path.suffix.lower() not in {".jsonl", ".parquet", ".csv", ".tsv"}:
        raise SynthgradeError(f"{path}: write synthetic rows to .jsonl, .parquet, .csv or .tsv")
    write_table(result.frame, path)
    write_json(summary_path(path), result.summary)
    return path


def summary_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + ".summary.json")


__all__ = ["GenerationResult", "generate_synthetic", "summary_path", "write_synthetic"]
