"""The run's ``.summary.json``: rows asked for, generated, kept and removed, and what the calls did."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from synthgrade.data.schema import ITEM_ID, has_items
from synthgrade.generate.cleaning import REASONS
from synthgrade.generate.groups import Group
from synthgrade.generate.prompting import PromptTemplate
from synthgrade.generate.rounds import CallPlan


def counts_summary(
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


def calls_summary(runner: Any, backend: Any, rounds_run: int) -> dict[str, Any]:
    """Cache hits, model calls, rounds, call counts and cost, and whether the budget ran out."""
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


def failed_generation(summary: dict[str, Any]) -> str | None:
    """Why a run produced nothing because every call failed (the output would be an empty file), or None."""
    calls = summary["calls"]
    if not calls["failed"] or calls["completed"] or summary["cache_hits"]:
        return None
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(calls["failures"].items()))
    return f"every one of the {calls['failed']} calls failed ({kinds}); nothing was generated"
