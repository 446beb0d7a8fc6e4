"""``synthgrade demo``: ``synthgrade build`` on the built-in example set, on the embedded defaults, in minutes on a CPU.

The tutor-training example set (one item, two labels, 80 human-coded responses of our own) goes through
the whole build: validated and split (30 % test rows set aside), a human-only TF-IDF scorer, synthetic rows
from the default offline generator (paraphrase and contrast, sized to the time budget), filtered by the
human-only scorer, a grid of four augmented models, the paired-bootstrap ship rule, one evaluation on the
test rows, and the report with the verdict and what to try next at the top.
Running it again resumes: finished steps, the generation cache and trained models are reused.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from synthgrade.build import BuildConfig, BuildResult, run_build
from synthgrade.console import console

EXAMPLE_SET = Path(__file__).parent / "examples" / "tutor-errors" / "responses.csv"
#: The demo's settings: what ``build`` does by default, sized so that on 2 CPU cores without llama-cpp-python the
#: augmented models are trained and judged within minutes. The scorer is TF-IDF (on 40 rows the encoder candidates
#: tie with it on validation and cost minutes: fitting them, each grid cell, the static student); each strategy
#: asks for one call of five rows per item and label; the build splits the time budget between generation and
#: the grid before it generates.
DEMO_SETTINGS: dict[str, Any] = {
    "labels": ["effective", "ineffective"],
    "test": 0.3,
    "val": 0.2,
    "model": "tfidf",
    "strategies": ["paraphrase", "contrast"],
    "temperatures": [0.3],
    "shares": [0.5],
    "weights": [0.5, 1.0],
    "max_per_group": 5,
    "max_rounds": 1,
    "max_tokens": 200,
    "time_budget": 5.0,
}


def demo_config(overrides: dict[str, Any] | None = None) -> BuildConfig:
    return BuildConfig(**(DEMO_SETTINGS | (overrides or {})))


def run_demo(out: str | Path = "runs/demo", fresh: bool = False, overrides: dict[str, Any] | None = None) -> BuildResult:
    """Build a scorer from the example set into ``out``; returns the build result (verdict, report path)."""
    out = Path(out)
    if fresh and out.exists():
        shutil.rmtree(out)
    config = demo_config(overrides)
    console.rule("[bold]synthgrade demo: synthgrade build on the built-in example set")
    console.print(
        f"data: {EXAMPLE_SET.name} (tutor training, 1 item, labels {', '.join(config.labels or [])}); "
        f"generator {config.generator}; strategies {', '.join(config.strategies)}; output {out}/",
        highlight=False,
    )
    return run_build(EXAMPLE_SET, out, config)
