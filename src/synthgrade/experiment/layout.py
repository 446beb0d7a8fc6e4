"""Where things live in a sweep's run directory, and the part every run directory shares (``split/``).

Everything that reads or writes a run directory (the sweep driver, its trials, the report) asks
:class:`SweepLayout` for paths instead of joining folder names itself, so the layout is written down once
and no module has to import another just to find a file. A build's folder is
:class:`synthgrade.build.layout.BuildLayout`, built on :class:`RunLayout` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRIALS_FILE = "trials.jsonl"
FAILURES_FILE = "failures.jsonl"
CONFIG_FILE = "sweep.yaml"
PLAN_FILE = "plan.json"
SPLIT_DIR = "split"
SPLIT_MANIFEST = "manifest.json"
#: A sweep keeps its split as JSON lines (ids and labels round-trip as text); a build as CSV, for people to open.
SWEEP_SPLIT_FORMAT = "jsonl"
SYNTHETIC_DIR = "synthetic"


@dataclass(frozen=True)
class RunLayout:
    """A run directory: its root and the split every run writes first."""

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def split_dir(self) -> Path:
        return self.root / SPLIT_DIR

    @property
    def split_manifest(self) -> Path:
        return self.split_dir / SPLIT_MANIFEST


class SweepLayout(RunLayout):
    """A sweep run directory: ``sweep.yaml``, ``plan.json``, ``split/``, ``synthetic/``, ``trials.jsonl``,
    ``failures.jsonl`` and (with ``keep_models``) ``models/TRIAL/``."""

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def plan(self) -> Path:
        return self.root / PLAN_FILE

    @property
    def trials(self) -> Path:
        return self.root / TRIALS_FILE

    @property
    def failures(self) -> Path:
        return self.root / FAILURES_FILE

    def split(self, name: str) -> Path:
        """``split/NAME.jsonl`` for ``train``, ``val`` or ``test``."""
        return self.split_dir / f"{name}.{SWEEP_SPLIT_FORMAT}"

    @property
    def synthetic_dir(self) -> Path:
        return self.root / SYNTHETIC_DIR

    def synthetic(self, key: str) -> Path:
        """The rows of synthetic set ``key`` (a generation key, or a filtered set's key)."""
        return self.synthetic_dir / f"{key}.jsonl"

    def diagnostics(self, key: str) -> Path:
        return self.synthetic_dir / f"{key}.diagnostics.json"

    def filter_summary(self, key: str) -> Path:
        return self.synthetic_dir / f"{key}.filter.json"

    def models(self, trial_key: str) -> Path:
        return self.root / "models" / trial_key


def synthetic_path(run_dir: str | Path, key: str) -> Path:
    """``RUN_DIR/synthetic/KEY.jsonl``: the rows of one synthetic set of a sweep."""
    return SweepLayout(run_dir).synthetic(key)


def diagnostics_path(run_dir: str | Path, key: str) -> Path:
    """``RUN_DIR/synthetic/KEY.diagnostics.json``: the numbers the report plots for one synthetic set."""
    return SweepLayout(run_dir).diagnostics(key)
