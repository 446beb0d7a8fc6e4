"""Fake trial and synthetic-set functions for the sweep machinery (pure functions of their spec)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from synthgrade.experiment import SyntheticSpec, TrialSpec, synthetic_path
from synthgrade.experiment.data import read_split

CALLS_ENV = "SYNTHGRADE_TEST_CALLS"


def _log(kind: str, key: str) -> None:
    path = os.environ.get(CALLS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{kind} {key}\n")


def fake_synthetic(spec: SyntheticSpec) -> dict:
    """Writes a small synthetic table for the set (the real one calls the generator and the filter)."""
    _log("synthetic", spec.key)
    path = synthetic_path(spec.run_dir, spec.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"{spec.key}-{i}", "text": f"made up {i}", "label": "correct", "synthetic": True} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {"rows": 3}


def fake_trial(spec: TrialSpec) -> dict:
    """A pure function of the effective config: reads the split and the shared set, returns a row."""
    _log("trial", spec.key)
    delay = float(os.environ.get("SYNTHGRADE_TEST_DELAY", "0"))
    if delay:
        time.sleep(delay)
    train = read_split(spec.run_dir, "train")
    p = spec.params
    synthetic_rows = 0
    if spec.synthetic_key:
        synthetic_rows = len(synthetic_path(spec.run_dir, spec.synthetic_key).read_text().splitlines())
    score = 0.5 + 0.3 * p["ratio"] - 0.1 * (p["temperature"] or 0) + 0.01 * p["seed"]
    return {"teacher": {"metrics": {"macro_f1": {"value": score}}}, "counts": {"human": len(train), "synthetic": synthetic_rows}}


def config_dict(fixtures: Path, **overrides) -> dict:
    data = {
        "name": "unit",
        "data": {"path": str(fixtures / "civics.csv"), "labels": ["correct", "incorrect"]},
        "generation": {"temperatures": [0.3, 0.9]},
        "filter": {"modes": ["off", "on"]},
        "mix": {"ratios": [0.0, 0.5, 0.8]},
        "seeds": [0, 1],
    }
    data.update(overrides)
    return data
