"""Planning a sweep: the cross product of its axes as trials, each keyed by a hash of its effective config.

The *effective* config of a trial holds only what changes its result: a human-only trial (ratio 0)
does not depend on the generation temperature or the filter, so the cross product collapses those
duplicates into one trial that every temperature line of the report shares. Synthetic sets are planned
the same way, once per (temperature, seed, human rows, filter), and shared by the trials that use them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from synthgrade.experiment.config import SweepConfig
from synthgrade.experiment.layout import SPLIT_DIR, SYNTHETIC_DIR
from synthgrade.io import stable_hash

#: Bump when the meaning of a result row changes, so old rows are not reused by mistake.
TRIAL_FORMAT = 1

# Rough throughput on a 2-core CPU for --dry-run estimates: orders of magnitude set by hand, not measured per run.
# Measured rates to compare with (tok/s columns, smollm2-135m): benchmarks/results/generate.md and generators.md.
# openai-batch: the same rate once the batch runs; queueing (up to 24 h) comes on top.
GENERATION_TOKENS_PER_S = {"local": 60.0, "llamacpp": 180.0, "openai": 400.0, "openai-batch": 400.0}
TRAIN_SAMPLES_PER_S = 12.0
DISTILL_SAMPLES_PER_S = {"static": 400.0}
DEFAULT_DISTILL_SAMPLES_PER_S = 20.0
MODEL_LOAD_S = 3.0
#: Generated tokens per kept synthetic response, prompts and rejected samples included (rough).
TOKENS_PER_RESPONSE = 60
#: Settings that change how fast a set is made, not what is in it.
NOT_IN_KEY = frozenset({"concurrency", "cache_dir"})


@dataclass(frozen=True)
class DataSummary:
    """What planning needs to know about the split human data."""

    fingerprint: str
    labels: list[str]
    items: int  # 0 for single-item data without an item column
    train_rows: int
    val_rows: int
    test_rows: int
    #: Training rows of the most frequent label (all items together).
    max_label_rows: int = 0


@dataclass(frozen=True)
class SyntheticSpec:
    """One synthetic set: generated once, optionally filtered, shared by every trial that names its key."""

    key: str
    generation_key: str
    temperature: float
    seed: int
    human_budget: int | str
    filter: str  # "off" or "on"
    generation: dict[str, Any]
    filter_config: dict[str, Any] | None
    estimated_s: float = 0.0
    run_dir: str = ""
    #: Seed that draws the budgeted human rows (the trial seed, or the split seed when sets are shared).
    budget_seed: int | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "seed": self.seed, "human_budget": self.human_budget, "filter": self.filter}

    @property
    def inputs(self) -> tuple[str, ...]:
        """Prefixes (relative to ``run_dir``) of the files making this set may read: the split and its raw set."""
        return (f"{SPLIT_DIR}/", f"{SYNTHETIC_DIR}/{self.generation_key}", f"{SYNTHETIC_DIR}/{self.key}")


@dataclass(frozen=True)
class TrialSpec:
    """A self-contained unit of work: the effective config in, one result row out.

    ``run_dir`` locates the shared inputs (split, synthetic sets); it is not part of the key, so a
    run directory can move between machines.
    """

    key: str
    params: dict[str, Any]
    config: dict[str, Any]
    synthetic_key: str | None
    run_dir: str = ""
    estimated_s: float = 0.0

    @property
    def inputs(self) -> tuple[str, ...]:
        """Prefixes (relative to ``run_dir``) of the files this trial reads: the split and its synthetic set."""
        split = f"{SPLIT_DIR}/"
        return (split, f"{SYNTHETIC_DIR}/{self.synthetic_key}") if self.synthetic_key else (split,)


@dataclass
class SweepPlan:
    trials: list[TrialSpec]
    synthetic: list[SyntheticSpec]
    data: DataSummary | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def estimated_s(self) -> float:
        return sum(t.estimated_s for t in self.trials) + sum(s.estimated_s for s in self.synthetic)


def auto_per_label(config: SweepConfig, data: DataSummary | None, budget: int | str) -> int:
    """Synthetic responses per label (per item) that the largest ratio of the sweep needs, with a margin.

    The mix stage draws synthetic rows per label in the human rows' proportions and refuses to run
    short, so the set must hold ``r / (1 - r)`` times the human rows of the biggest label (addon) or
    ``r * total`` rows (fixed-total). Filtering drops rows, so filtered sweeps ask for more.
    """
    if data is None or not data.train_rows:
        return 20
    ratio = max(config.mix.ratios)
    items = max(1, data.items)
    share = data.max_label_rows / data.train_rows
    human = data.train_rows if budget == "all" else min(data.train_rows, int(budget) * items)
    if config.mix.mode == "fixed-total":
        needed = ratio * (config.mix.total or human) * share
    else:
        needed = ratio / (1.0 - ratio) * human * share
    margin = 1.6 if "on" in config.filter.modes else 1.15
    return max(1, math.ceil(needed * margin / items) + 1)


def generation_settings(
    config: SweepConfig, temperature: float, seed: int, data: DataSummary | None = None, budget: int | str = "all"
) -> dict[str, Any]:
    """The GenerationConfig fields of one synthetic set (the seed varies the prompt examples and sampling)."""
    from synthgrade.generate.backends import resolve_backend

    gen = config.generation
    # auto resolves here, so a synthetic set's key names the engine that writes it (llama.cpp or transformers).
    backend = resolve_backend(gen.backend, gen.model)
    settings: dict[str, Any] = {"backend": backend, "model": gen.model, "temperature": temperature, "seed": seed}
    per_label = auto_per_label(config, data, budget) if gen.per_label == "auto" else gen.per_label
    optional = {
        "base_url": gen.base_url,
        "top_p": gen.top_p,
        "per_label": per_label,
        "examples": gen.examples,
        "max_tokens": gen.max_tokens,
        "concurrency": gen.concurrency,
        "max_requests": gen.max_requests,
        "prompt": str(config.resolve_path(gen.prompt)) if gen.prompt else None,
    }
    settings.update({k: v for k, v in optional.items() if v is not None})
    settings.update(gen.options)
    if config.cache_dir:
        settings["cache_dir"] = str(config.resolve_path(config.cache_dir))
    return settings


def filter_settings(config: SweepConfig) -> dict[str, Any]:
    return {"method": config.filter.method, **config.filter.options}


def _human_rows(data: DataSummary | None, budget: int | str) -> int:
    if data is None:
        return 0
    if budget == "all":
        return data.train_rows
    return min(data.train_rows, int(budget) * max(1, data.items))


def _synthetic_rows(config: SweepConfig, data: DataSummary | None, budget: int | str) -> int:
    if data is None:
        return 0
    per_label = auto_per_label(config, data, budget) if config.generation.per_label == "auto" else config.generation.per_label
    return int(per_label) * len(data.labels) * max(1, data.items)


def _mixed_rows(config: SweepConfig, human: int, available_synthetic: int, ratio: float) -> tuple[int, int]:
    """(human, synthetic) rows a trial trains on, as the mix stage will choose them (for estimates only)."""
    if ratio <= 0:
        return human, 0
    if config.mix.mode == "fixed-total":
        total = config.mix.total or human
        synthetic = min(available_synthetic, round(total * ratio))
        return min(human, total - synthetic), synthetic
    if ratio >= 1:
        return 0, available_synthetic
    return human, min(available_synthetic, round(human * ratio / (1 - ratio)))


def _synthetic_spec(
    config: SweepConfig,
    data: DataSummary | None,
    fingerprint: str,
    axes: tuple[int | str, int, int, float, str],
    known: dict[str, SyntheticSpec],
) -> SyntheticSpec:
    """The synthetic set of one (budget, budget seed, generation seed, temperature, filter mode); one already in
    ``known`` under the same key is reused. Its key names the generation and, when filtering is on, the filter."""
    budget, budget_seed, gen_seed, temperature, filter_mode = axes
    gen_settings = generation_settings(config, temperature, gen_seed, data, budget)
    keyed = {k: v for k, v in gen_settings.items() if k not in NOT_IN_KEY}
    generation_key = stable_hash({"data": fingerprint, "human_budget": budget, "budget_seed": budget_seed, "generation": keyed})
    filt = filter_settings(config) if filter_mode == "on" else None
    key = stable_hash({"generation": generation_key, "filter": filt}) if filt else generation_key
    if key in known:
        return known[key]
    tokens = _synthetic_rows(config, data, budget) * TOKENS_PER_RESPONSE
    rate = GENERATION_TOKENS_PER_S.get(gen_settings["backend"], 60.0)
    # Filtering costs about one more pass of the set (LLM re-grading) or little (neighbours).
    filter_cost = tokens / rate * 0.3 if filt else 0.0
    generated_before = any(s.generation_key == generation_key for s in known.values())
    return SyntheticSpec(
        key=key,
        generation_key=generation_key,
        temperature=temperature,
        seed=gen_seed,
        human_budget=budget,
        filter=filter_mode,
        generation=gen_settings,
        filter_config=filt,
        estimated_s=(0.0 if generated_before else tokens / rate) + filter_cost,
        budget_seed=budget_seed,
    )


def _trial_estimate(config: SweepConfig, data: DataSummary | None, budget: int | str, ratio: float) -> float:
    """Rough seconds for one trial: load, train the teacher and the students, score validation and test."""
    if data is None:
        return 0.0
    human_used, synthetic_used = _mixed_rows(config, _human_rows(data, budget), _synthetic_rows(config, data, budget), ratio)
    train_rows = human_used + synthetic_used
    estimate = MODEL_LOAD_S + train_rows * config.teacher.epochs / TRAIN_SAMPLES_PER_S
    for student in config.students:
        rate = DISTILL_SAMPLES_PER_S.get(student.model, DEFAULT_DISTILL_SAMPLES_PER_S)
        estimate += MODEL_LOAD_S + train_rows * student.epochs / rate
    return estimate + (data.test_rows + data.val_rows) * (1 + len(config.students)) / 200.0


def plan_trials(config: SweepConfig, data: DataSummary | None = None, run_dir: str = "") -> SweepPlan:
    """The trials and synthetic sets of a sweep, deduplicated by their effective configs, in a stable order."""
    fingerprint = data.fingerprint if data is not None else stable_hash(config.data.model_dump(mode="json"))
    teacher = config.teacher.model_dump(mode="json")
    students = [s.model_dump(mode="json") for s in config.students]
    evaluation = config.evaluation.model_dump(mode="json")
    synthetic: dict[str, SyntheticSpec] = {}
    trials: dict[str, TrialSpec] = {}
    axes = itertools.product(
        config.human_budgets, config.seeds, config.mix.ratios, config.generation.temperatures, config.filter.modes
    )
    shared = config.generation.share_across_seeds
    for budget, seed, ratio, temperature, filter_mode in axes:
        synthetic_key, filt = None, None
        budget_seed = config.data.split.seed if shared else seed
        if ratio > 0:
            set_axes = (budget, budget_seed, config.seeds[0] if shared else seed, temperature, filter_mode)
            spec = _synthetic_spec(config, data, fingerprint, set_axes, synthetic)
            synthetic.setdefault(spec.key, spec)
            synthetic_key, filt = spec.key, spec.filter_config
        effective = {
            "format": TRIAL_FORMAT,
            "data": fingerprint,
            "human_budget": budget,
            "budget_seed": budget_seed,
            "seed": seed,
            "ratio": ratio,
            "mix": {"mode": config.mix.mode, "total": config.mix.total, "shortfall": config.mix.shortfall} if ratio > 0 else None,
            "synthetic": {"set": synthetic_key, "temperature": temperature, "filter": filt} if ratio > 0 else None,
            "teacher": teacher,
            "students": students,
            "evaluation": evaluation,
        }
        key = stable_hash(effective)
        if key in trials:
            continue
        params = {
            "human_budget": budget,
            "seed": seed,
            "ratio": ratio,
            "temperature": temperature if ratio > 0 else None,
            "filter": filter_mode if ratio > 0 else None,
        }
        estimate = _trial_estimate(config, data, budget, ratio)
        trials[key] = TrialSpec(key, params, effective, synthetic_key, run_dir, estimate)
    notes = ["ratio 1.0 trains on synthetic rows only (no human rows)"] if 1.0 in config.mix.ratios else []
    return SweepPlan(list(trials.values()), list(synthetic.values()), data, notes)
