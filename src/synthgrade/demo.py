"""``synthgrade demo``: the whole job on the built-in example set, on the embedded defaults, in minutes on a CPU.

It runs the ``demo`` preset: the tutor-training example set (one item, two labels, 80 human-coded
responses of our own) is split once; SmolLM2 writes synthetic responses at two temperatures (cached);
a MiniLM teacher is trained human-only and at 50% / 80% synthetic shares; a static student is
distilled from each teacher; everything is scored on the held-out human test rows and written up as
an HTML report. Running it again reuses the generation cache and the finished trials.
"""

from __future__ import annotations

import copy
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from synthgrade.console import console
from synthgrade.experiment import run_sweep, sweep_config_from_dict
from synthgrade.experiment.sweep import format_seconds
from synthgrade.presets import PRESET_DIR, preset_path
from synthgrade.report import Report, write_report

EXAMPLE_SET = Path(__file__).parent / "examples" / "tutor-errors" / "responses.csv"


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def demo_config(overrides: dict[str, Any] | None = None):
    raw = yaml.safe_load(preset_path("demo").read_text(encoding="utf-8"))
    raw["data"]["path"] = str(EXAMPLE_SET)
    return sweep_config_from_dict(_merge(raw, overrides or {}), "preset demo", PRESET_DIR)


def run_demo(out: str | Path = "runs/demo", fresh: bool = False, overrides: dict[str, Any] | None = None) -> Report:
    """Run the demo sweep into ``out`` and write its report; returns the report (path, headline table)."""
    out = Path(out)
    started = time.perf_counter()
    config = demo_config(overrides)
    if fresh and out.exists():
        shutil.rmtree(out)
    gen, mix = config.generation, config.mix
    console.rule("[bold]synthgrade demo")
    console.print(
        f"data: {EXAMPLE_SET.name} (tutor training, 1 item, labels {', '.join(config.data.labels or [])}); "
        f"split {1 - config.data.split.val - config.data.split.test:.0%} train / {config.data.split.val:.0%} val / "
        f"{config.data.split.test:.0%} test (test rows never reach prompts or training)\n"
        f"generate: {gen.backend} {gen.model} at temperatures {', '.join(map(str, gen.temperatures))} (cached)\n"
        f"train: {config.teacher.model} teacher at synthetic shares {', '.join(f'{r:.0%}' for r in mix.ratios)} ({mix.mode}); "
        f"distil: {', '.join(s.label for s in config.students) or 'no'} student; seeds {', '.join(map(str, config.seeds))}\n"
        f"output: {out}/",
        highlight=False,
    )
    result = run_sweep(config, out)
    if result.failed:
        console.print(
            f"[yellow]warning:[/yellow] {len(result.failed)} trials failed (see {out / 'failures.jsonl'}); "
            "the report shows the rest"
        )
    console.print("writing the report ...")
    report = write_report(out)
    console.print(f"demo finished in {format_seconds(time.perf_counter() - started)}", highlight=False)
    return report
