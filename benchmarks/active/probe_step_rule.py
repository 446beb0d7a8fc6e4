"""Probe: how often can a strategy pass "never more than 0.01 below random at any step (mean of 3 seeds)"?

The issue's per-step rule compares two 3-seed means at each of the 8 steps of a curve. This probe takes the
seed-to-seed spread of random's own curves in ``active.json`` (per data set, test and step) and simulates, for a
strategy whose true macro-F1 is random's plus ``gain`` at every step with the same spread, the share of 3-seed
experiments in which it is never more than 0.01 below random's 3-seed mean: on one test, and on unseen answers and
unseen questions together (the issue's two tests). No test row is read; only the benchmark's own results.

    .venv/bin/python benchmarks/active/probe_step_rule.py     # -> results/probes/active-step-rule.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import RESULTS  # noqa: E402

SEEDS = 3
GAINS = (0.0, 0.02, 0.04)
SHORTFALL = 0.01
DRAWS = 20_000


def pass_rates(spread: dict[str, list[float]], gain: float, rng) -> dict[str, float]:
    """{test: share of simulated 3-seed experiments never more than SHORTFALL below random} and the joint share."""
    import numpy as np

    passed = {}
    for test, sds in spread.items():
        sds = np.asarray(sds)
        noise = rng.normal(size=(DRAWS, len(sds), 2, SEEDS)) * sds[None, :, None, None]
        gap = gain + noise[:, :, 0].mean(axis=-1) - noise[:, :, 1].mean(axis=-1)  # strategy - random, per step
        passed[test] = gap.min(axis=1) >= -SHORTFALL
    rates = {test: float(p.mean()) for test, p in passed.items()}
    pair = [t for t in passed if t.endswith(("unseen-answers", "unseen-questions"))]
    if len(pair) == 2:
        rates["answers and questions"] = float((passed[pair[0]] & passed[pair[1]]).mean())
    return rates


def main() -> int:
    import numpy as np
    import pandas as pd

    rows = [r for r in json.loads((RESULTS / "active.json").read_text()) if r.get("strategy") == "random" and "coded" in r]
    curves = pd.DataFrame(rows)
    curves = curves[curves["test"].str.startswith("test-")]
    lines = [
        "# Probe: can a 3-seed curve pass the per-step rule?",
        "",
        "Written by `benchmarks/active/probe_step_rule.py` from random's curves in `active.json`: per step, the standard",
        f"deviation of macro-F1 over random's seeds; {DRAWS:,} simulated experiments of {SEEDS} seeds per arm for a strategy",
        f"whose true curve is random's + gain at every step (same spread). Share never more than {SHORTFALL} below random.",
        "Steps are drawn independently: a seed's steps share its draws, so real curves are correlated and pass somewhat",
        "more often; three seeds also make each SD rough. A reading of scale, not a test.",
        "",
        "| dataset | test | median per-step SD | " + " | ".join(f"pass, gain +{g:.2f}" for g in GAINS) + " |",
        "|---|---|---|" + "---|" * len(GAINS),
    ]
    output = []
    rng = np.random.default_rng(0)
    for dataset, group in curves.groupby("dataset"):
        spread = {
            test: part.groupby("coded")["macro_f1"].std(ddof=1).fillna(0.0).tolist() for test, part in group.groupby("test")
        }
        medians = {test: float(np.median(sds)) for test, sds in spread.items()}
        by_gain = {gain: pass_rates(spread, gain, rng) for gain in GAINS}
        for test in [*spread, "answers and questions"]:
            if test not in by_gain[GAINS[0]]:
                continue
            sd = f"{medians[test]:.3f}" if test in medians else ""
            lines.append(f"| {dataset} | {test} | {sd} | " + " | ".join(f"{by_gain[g][test]:.2f}" for g in GAINS) + " |")
            output += [{"dataset": dataset, "test": test, "gain": g, "pass_rate": round(by_gain[g][test], 4)} for g in GAINS]
    out = RESULTS / "probes" / "active-step-rule.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(output, indent=1) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
