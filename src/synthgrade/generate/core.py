"""Label-conditional generation: plan calls per (strategy, item, label), run them through the cache, parse, clean.

The parts live beside this module: :mod:`.groups` (the cells), :mod:`.calls` (one call's request),
:mod:`.rounds` (a full round, then top-ups), :mod:`.rows` (candidates and the finished table),
:mod:`.cleaning`, :mod:`.summary` and :mod:`.runner` (cache, concurrency, retries, budget).
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from synthgrade.console import console
from synthgrade.data import check_disjoint, is_synthetic
from synthgrade.data.schema import ID, LABEL, TEXT, label_order
from synthgrade.embed import embed_texts
from synthgrade.errors import SynthgradeError
from synthgrade.generate.backends import make_backend, resolve_backend
from synthgrade.generate.cache import CallCache
from synthgrade.generate.cleaning import clean_candidates
from synthgrade.generate.config import GenerationConfig, default_cache_dir
from synthgrade.generate.diagnostics import synthetic_diagnostics
from synthgrade.generate.groups import plan_groups
from synthgrade.generate.prompting import choose_templates
from synthgrade.generate.rounds import CallPlan, call_rounds
from synthgrade.generate.rows import CANDIDATE_COLUMNS, finish_frame
from synthgrade.generate.strategies import STRATEGIES
from synthgrade.generate.summary import calls_summary, counts_summary


@dataclass
class GenerationResult:
    frame: pd.DataFrame
    summary: dict[str, Any]
    removed: pd.DataFrame = field(default_factory=pd.DataFrame)


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
    from synthgrade.generate.call_stats import Budget
    from synthgrade.generate.runner import CallRunner

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
    # synthgrade.embed keeps each text's vector for the process: cleaning compares the same rows many times.
    embed = functools.partial(embed_texts, model=config.embedder) if config.embedder else None
    exclude_frame = pd.concat([f[[TEXT]] for f in exclude], ignore_index=True) if exclude else None

    def clean(frame: pd.DataFrame, prompts: dict[str, set[str]]) -> tuple[pd.DataFrame, Counter, pd.DataFrame]:
        return clean_candidates(frame, train, exclude_frame, config, labels, prompts, embed)

    try:
        rounds_run = call_rounds(plan, runner, clean, show_progress)
    finally:
        cache.close()
    candidates = pd.DataFrame(plan.candidates(), columns=list(CANDIDATE_COLUMNS))
    if show_progress and embed is not None and len(candidates):
        console.print(f"cleaning {len(candidates):,} candidates (embedding with {config.embedder}) ...", highlight=False)
    kept, removed_counts, removed = clean(candidates, plan.prompts)
    frame = finish_frame(kept, config, templates, backend.name)
    summary = {
        **counts_summary(plan, train, candidates, frame, removed, removed_counts),
        **calls_summary(runner, backend, rounds_run),
        "model": config.model,
        "prompt_hash": templates[config.strategy[0]].hash,
        "labels": list(labels),
        "config": config.public_dict(),
        "diagnostics": synthetic_diagnostics(frame, train, embed),
    }
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
    summary["wall_time_s"] = round(time.perf_counter() - started, 3)
    return GenerationResult(frame, summary, removed.drop(columns=["_shown", "_source", "_order"], errors="ignore"))


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


__all__ = ["GenerationResult", "generate_synthetic", "summary_path", "write_synthetic"]
