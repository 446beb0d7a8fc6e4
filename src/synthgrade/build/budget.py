"""How the build shares ``--time-budget`` between generation and the grid, decided before generation runs.

Generation is open-ended (a slow local generator can spend any budget), the grid is what tests
augmentation. So the grid's share is reserved first: every planned cell costs about what the human-only
scorer cost to fit, scaled by the rows the cell adds. Generation gets the rest. Its speed is measured on
the first calls of the first synthetic set (a probe, whose answers the cache keeps for the real run);
the synthetic sets are then sized (rows per item and label, a hard cap on calls) so that generation
ends in time, and sets that cannot get even one call per group are left out, with their cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Calls of the first synthetic set that measure the generator's speed (one batch or one round of concurrent calls).
PROBE_CALLS = 4


def cell_seconds(human_fit_s: float, share: float) -> float:
    """One grid cell: the human-only fit, scaled by the rows it trains on (human rows plus ``share`` synthetic)."""
    return max(1.0, human_fit_s) / (1.0 - share)


def grid_seconds_per_set(human_fit_s: float, shares: list[float], weights: list[float]) -> float:
    """The cells one synthetic set adds to the grid (every share x weight)."""
    return sum(cell_seconds(human_fit_s, share) for share in shares) * len(weights)


@dataclass
class GenerationPlan:
    """What fits in the budget: how many synthetic sets, how many rows each, at most how many calls each."""

    sets: int
    per_label: int
    max_requests: int | None
    seconds_per_call: float | None
    generation_s: float
    grid_s: float
    wanted_sets: int
    wanted_per_label: int
    #: failed calls by kind when every probe call failed: the generator is down, generating more would only wait
    generator_failed: dict[str, int] = field(default_factory=dict)
    #: completion tokens per second of the measured calls (the generator's speed)
    tokens_per_s: float | None = None
    #: seconds the generator took to load (the first run also assembles and converts a packaged GGUF once)
    load_s: float = 0.0

    @property
    def fits(self) -> bool:
        return self.sets == self.wanted_sets and self.per_label == self.wanted_per_label

    def describe(self) -> str:
        if self.generator_failed:
            kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.generator_failed.items()))
            return f"the generator failed on every measured call ({kinds}): no synthetic set is generated"
        per_call = "calls answered from the cache"
        if self.seconds_per_call:
            speed = f", {self.tokens_per_s:.0f} tokens/s" if self.tokens_per_s else ""
            per_call = f"{self.seconds_per_call:.1f} s per call{speed}, measured"
        if self.load_s >= 1:
            per_call += f"; the generator loaded in {self.load_s:.0f} s"
        head = f"time plan: generation {self.generation_s / 60:.1f} min ({per_call}), grid {self.grid_s / 60:.1f} min reserved; "
        if self.sets == 0:
            return head + "no synthetic set fits: augmentation cannot be tested in this budget"
        fit = (
            f"{self.sets} of {self.wanted_sets} synthetic sets fit"
            if self.sets < self.wanted_sets
            else "every synthetic set fits"
        )
        rows = (
            f"{self.per_label} rows per item and label (asked: {self.wanted_per_label})"
            if self.per_label < self.wanted_per_label
            else f"{self.per_label} rows per item and label"
        )
        cap = f", at most {self.max_requests} calls each" if self.max_requests is not None else ""
        return head + f"{fit}, {rows}{cap}"


def plan_generation(
    left_s: float,
    wanted_sets: int,
    groups_per_set: int,
    per_call: int,
    wanted_per_label: int,
    seconds_per_call: float | None,
    grid_s_per_set: float,
    max_rounds: int = 2,
) -> GenerationPlan:
    """Size the synthetic sets so that generation plus their grid cells fit in ``left_s`` seconds.

    More sets come first (each set is a strategy or temperature the grid compares), then more rows per
    set. ``seconds_per_call`` is the measured wall time of one call at the backend's parallelism
    (``None`` or 0 when every probe call came from the cache). Top-up rounds spend the call cap a set
    was given, never more.
    """
    per_call = max(1, per_call)
    calls_wanted = groups_per_set * math.ceil(wanted_per_label / per_call)
    cost = seconds_per_call if seconds_per_call else 0.0
    for sets in range(wanted_sets, 0, -1):
        grid_s = sets * grid_s_per_set
        generation_s = left_s - grid_s
        if generation_s <= 0:
            continue
        if cost <= 0:  # answered from the cache: free, capped only by the rounds asked for
            return GenerationPlan(sets, wanted_per_label, None, None, generation_s, grid_s, wanted_sets, wanted_per_label)
        affordable = int(generation_s / (sets * cost))
        if affordable < groups_per_set:
            continue  # not even one call per group
        calls_per_group = min(math.ceil(wanted_per_label / per_call), affordable // groups_per_set)
        per_label = min(wanted_per_label, calls_per_group * per_call)
        # Top-ups may use what is left of the cap, up to one more round's worth.
        cap = min(affordable, calls_wanted * max_rounds)
        return GenerationPlan(sets, per_label, cap, seconds_per_call, generation_s, grid_s, wanted_sets, wanted_per_label)
    return GenerationPlan(0, 0, 0, seconds_per_call, max(0.0, left_s), 0.0, wanted_sets, wanted_per_label)
