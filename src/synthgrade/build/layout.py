"""Where things live in a build folder: the outputs a user opens, and ``work/``, the state a rerun resumes from.

Every build module asks :class:`BuildLayout` for its paths, so the folder is written down once.
"""

from __future__ import annotations

from pathlib import Path

from synthgrade.experiment.layout import SPLIT_DIR, SYNTHETIC_DIR, RunLayout

__all__ = ["BuildLayout"]


class BuildLayout(RunLayout):
    """A build run directory: the outputs a user opens (``model/``, ``student/``, ``report/``, ``build.json``,
    ``split/``) and ``work/``, the resumable intermediate state."""

    #: Everything a build writes directly under its root (what a fresh build clears).
    OUTPUTS = ("work", SPLIT_DIR, "model", "student", "report", "build.json")

    # -- what the user opens
    def split(self, name: str) -> Path:
        return self.split_dir / f"{name}.csv"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def summary(self) -> Path:
        return self.root / "build.json"

    @property
    def report(self) -> Path:
        return self.root / "report" / "index.html"

    # -- work/: the state a rerun resumes from
    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def state(self) -> Path:
        return self.work / "state.json"

    @property
    def human_record(self) -> Path:
        return self.work / "human" / "record.json"

    @property
    def human_model(self) -> Path:
        return self.work / "human" / "model"

    def raw_synthetic(self, name: str) -> Path:
        return self.work / SYNTHETIC_DIR / f"{name}.jsonl"

    def kept_synthetic(self, name: str) -> Path:
        return self.work / SYNTHETIC_DIR / f"{name}.kept.jsonl"

    def filter_record(self, name: str) -> Path:
        return self.work / SYNTHETIC_DIR / f"{name}.filter.json"

    @property
    def unlabeled_pool(self) -> Path:
        """The usable uncoded rows (``--unlabeled``), as self-training's cross-fitting reads them."""
        return self.work / SYNTHETIC_DIR / "unlabeled-pool.jsonl"

    @property
    def grid_results(self) -> Path:
        return self.work / "grid.jsonl"

    def grid_model(self, key: str) -> Path:
        return self.work / "grid" / key

    @property
    def decision(self) -> Path:
        return self.work / "decision.json"

    @property
    def student_record(self) -> Path:
        return self.work / "student.json"

    @property
    def evaluation(self) -> Path:
        return self.work / "evaluation.json"
