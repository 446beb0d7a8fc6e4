"""Stage 3, generate: one synthetic set per (strategy, temperature) from the training rows only, sized to the time budget."""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import pandas as pd

from synthgrade.build.records import BuildState, FilterOutcome, GenerationCounts, HumanOnly, SyntheticSet
from synthgrade.build.stage import Stage
from synthgrade.console import console
from synthgrade.data.schema import LABEL
from synthgrade.io import read_json

#: How a skipped synthetic set is explained on the console.
SKIP_REASONS = {"generator failed": "the generator failed", "time budget": "it does not fit the time budget"}


def set_name(strategy: str, temperature: float) -> str:
    return f"{strategy}-t{temperature:g}"


def one_strategy(result: Any, strategy: str) -> Any:
    """One strategy's rows of a generation run over several, with its own counts (the calls are the run's)."""
    from synthgrade.generate import GenerationResult

    frame = result.frame
    if "strategy" in frame.columns:
        frame = frame[frame["strategy"] == strategy].reset_index(drop=True)
    own = (result.summary.get("by_strategy") or {}).get(strategy, {})
    counts = {key: own[key] for key in ("groups", "requested", "generated", "kept", "removed", "removed_total") if key in own}
    run = {"strategies": [strategy], "run_strategies": result.summary.get("strategies")}
    return GenerationResult(frame, result.summary | counts | run)


def per_group_rows(train: pd.DataFrame, labels: list[str], share: float, cap: int) -> int:
    """Synthetic rows to ask for per (item, label): enough for ``share`` of the training rows, by the average group."""
    groups = (
        train.groupby(["item_id", LABEL]).size()
        if "item_id" in train.columns and train["item_id"].notna().any()
        else (train.groupby(LABEL).size())
    )
    mean_group = float(groups.mean()) if len(groups) else 1.0
    wanted = math.ceil(share / (1.0 - share) * mean_group * 1.25)  # a margin for rows cleaning and filtering drop
    return int(min(cap, max(2, wanted)))


def unfinished_generation(summary: dict[str, Any]) -> str | None:
    """Why a generation must not count as done (failed calls, or no usable row), or None when it may."""
    calls = summary.get("calls") or {}
    if calls.get("failed"):
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted((calls.get("failures") or {}).items()))
        return f"{calls['failed']} generation calls failed ({kinds}); rerun the build to retry them"
    if not summary.get("kept"):
        return f"the generator gave no usable rows ({summary.get('generated', 0)} parsed, none kept after cleaning)"
    return None


class GenerateStage(Stage):
    """Writes ``work/synthetic/NAME.jsonl`` (and its ``.summary.json``) per set; a set counts as done once both exist."""

    name = "generate"
    reads = ("human",)
    produces = ("sets",)

    def run(self, state: BuildState) -> None:
        if not self.config.augment:
            return
        assert state.human is not None
        config, bd = self.config, self.data
        combos = list(itertools.product(config.strategies, config.temperatures))
        self.announce(
            f"{config.generator} writes {', '.join(config.strategies)} rows at temperature(s) "
            f"{', '.join(map(str, config.temperatures))} from the {len(bd.train):,} training rows only"
        )
        wanted = per_group_rows(bd.train, self.labels, max(config.shares), config.max_per_group)
        pending = [(s, t) for s, t in combos if not self.generated(set_name(s, t))]
        plan = self.plan_generation(state.human, pending, wanted, len(combos)) if pending else None
        not_done = self.generate(pending, plan, wanted) if plan is not None else {}
        state.sets = [self.record(strategy, temperature, not_done) for strategy, temperature in combos]

    def generate(self, pending: list[tuple[str, float]], plan: Any, wanted: int) -> dict[str, dict[str, Any]]:
        """Generate the sets that fit the plan; returns the fields of every set left without rows, by name."""
        from synthgrade.generate import GenerationConfig, generate_synthetic, write_synthetic

        bd = self.data
        fitting = [] if plan.generator_failed else pending[: plan.sets]
        not_done: dict[str, dict[str, Any]] = {}
        for strategy, temperature in pending:
            if (strategy, temperature) not in fitting:
                failures = plan.generator_failed or None
                not_done[set_name(strategy, temperature)] = {
                    "skipped": "generator failed" if failures else "time budget",
                    "skip_call_failures": failures,
                }
        # The sets of one temperature are one generation run: their prompts share the local model's batches.
        for temperature in dict.fromkeys(t for _, t in fitting):
            strategies = [s for s, t in fitting if t == temperature]
            names = [set_name(strategy, temperature) for strategy in strategies]
            if self.clock.left <= 0:
                not_done |= {name: {"skipped": "time budget"} for name in names}
                continue
            self.clock.note(f"generating {', '.join(names)}: {plan.per_label} rows per item and label")
            cap = plan.max_requests * len(strategies) if plan.max_requests is not None else None
            settings = self.generation_settings(strategies, temperature, plan.per_label, wanted, cap)
            result = generate_synthetic(bd.train, GenerationConfig(**settings), exclude=[bd.val, *bd.tests.values()])
            unfinished = unfinished_generation(result.summary)
            if unfinished:  # not recorded as done: a rerun calls again (answers so far come from the cache)
                not_done |= {name: {"outcome": FilterOutcome(0, why_empty=unfinished)} for name in names}
                continue
            for strategy, name in zip(strategies, names, strict=True):
                write_synthetic(one_strategy(result, strategy), self.layout.raw_synthetic(name))
        return not_done

    def record(self, strategy: str, temperature: float, not_done: dict[str, dict[str, Any]]) -> SyntheticSet:
        """The set's record: skipped or empty (said on the console), else its generation counts for the filter."""
        from synthgrade.generate import summary_path

        name = set_name(strategy, temperature)
        entry = SyntheticSet(name, strategy, temperature, **not_done.get(name, {}))
        if entry.outcome is not None:
            console.print(f"[yellow]not used[/yellow] {name}: {entry.outcome.why_empty}", highlight=False)
        elif entry.skipped is not None:
            console.print(f"[yellow]skipped[/yellow] {name}: {SKIP_REASONS[entry.skipped]}", highlight=False)
        else:
            entry.generation = GenerationCounts.from_summary(read_json(summary_path(self.layout.raw_synthetic(name))))
        return entry

    def generated(self, name: str) -> bool:
        from synthgrade.generate import summary_path

        raw_path = self.layout.raw_synthetic(name)
        return raw_path.exists() and summary_path(raw_path).exists()

    def generation_settings(
        self, strategies: list[str], temperature: float, per_label: int, wanted: int, max_requests: int | None, **overrides: Any
    ) -> dict[str, Any]:
        config = self.config
        settings: dict[str, Any] = {
            "model": config.generator,
            "strategy": strategies,
            "temperature": temperature,
            "per_label": per_label,
            # Fixed by the rows wanted, not the rows planned: the probe's calls are then the real run's first calls.
            "per_call": min(5, wanted),
            "max_tokens": config.max_tokens,
            "max_rounds": config.max_rounds,
            "max_requests": max_requests,
            "seed": config.seed,
            "base_url": config.base_url,
            "api_key_env": config.api_key_env,
            "retry": {"timeout": config.request_timeout},
        }
        if config.backend:
            settings["backend"] = config.backend
        return settings | overrides

    def plan_generation(self, human: HumanOnly, pending: list[tuple[str, float]], wanted: int, total: int) -> Any:
        """Reserve the grid's share of the budget, measure the generator on the first calls, size the sets to fit."""
        from synthgrade.build.budget import grid_seconds_per_set, plan_generation

        config, bd = self.config, self.data
        grid_s_per_set = grid_seconds_per_set(human.fit_seconds, config.shares, config.weights)
        if self.clock.left <= 0:
            plan = plan_generation(self.clock.left, len(pending), 1, 1, wanted, None, grid_s_per_set)
            self.clock.note(plan.describe())
            return plan
        probe, seconds_per_call = self.probe(pending, wanted)
        calls = probe.get("calls") or {}
        if calls.get("failed") and not calls.get("completed") and not probe.get("cache_hits"):
            plan = plan_generation(0.0, len(pending), 1, 1, wanted, None, grid_s_per_set)
            plan.generator_failed = dict(calls.get("failures") or {"unknown": calls["failed"]})
            self.clock.note(plan.describe())
            return plan
        groups = int(bd.train.groupby(["item_id", LABEL]).ngroups if "item_id" in bd.train.columns else bd.train[LABEL].nunique())
        plan = plan_generation(
            self.clock.left,
            len(pending),
            max(1, groups),
            min(5, wanted),
            wanted,
            seconds_per_call,
            grid_s_per_set,
            config.max_rounds,
        )
        plan.tokens_per_s = calls.get("completion_tokens_per_s")
        plan.load_s = float(calls.get("model_load_s") or 0.0)
        done = f" ({total - len(pending)} set(s) generated before)" if len(pending) < total else ""
        self.clock.note(plan.describe() + done)
        return plan

    def probe(self, pending: list[tuple[str, float]], wanted: int) -> tuple[dict[str, Any], float | None]:
        """The generator's first calls (the real run's first calls, then cached): their summary and seconds per call."""
        from synthgrade.build.budget import PROBE_CALLS
        from synthgrade.generate import GenerationConfig, generate_synthetic

        bd = self.data
        temperature = pending[0][1]
        strategies = [s for s, t in pending if t == temperature]
        settings = self.generation_settings(strategies, temperature, wanted, wanted, PROBE_CALLS, max_rounds=1)
        self.clock.note(f"measuring the generator on its first {PROBE_CALLS} calls (temperature {temperature:g})")
        tick = time.perf_counter()
        summary = generate_synthetic(
            bd.train, GenerationConfig(**settings), exclude=[bd.val, *bd.tests.values()], show_progress=False
        ).summary
        calls = summary.get("calls") or {}
        wall = time.perf_counter() - tick - float(calls.get("model_load_s") or 0.0)
        return summary, (wall / calls["model_calls"] if calls.get("model_calls") else None)
