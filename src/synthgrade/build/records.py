"""What each build stage hands the next: typed records, written to ``work/`` and ``build.json`` as the same dicts as ever.

Each record's ``to_dict`` gives the JSON a stage writes (keys in their written order, optional keys only
where they apply), and ``from_dict`` reads it back when a rerun resumes. The verdict and the report read
the dicts, so ``build.json`` is their one interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthgrade.build.decision import Decision

#: Per-row predictions kept in the work folder, left out of build.json.
PER_ROW = ("val_pred", "oof")


def without_per_row(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in PER_ROW}


@dataclass
class HumanOnly:
    """The human-only scorer (``work/human/record.json``): its spec, validation score and held-out predictions."""

    spec: str
    val_macro_f1: float
    val_pred: list[int]
    seconds: float
    fit_seconds: float
    oof: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "val_macro_f1": self.val_macro_f1,
            "val_pred": self.val_pred,
            "spec": self.spec,
            "seconds": self.seconds,
            "fit_seconds": self.fit_seconds,
            "oof": self.oof,
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> HumanOnly:
        seconds = float(record.get("seconds", 30.0))
        return cls(
            spec=record["spec"],
            val_macro_f1=record["val_macro_f1"],
            val_pred=record["val_pred"],
            seconds=seconds,
            fit_seconds=float(record.get("fit_seconds", seconds)),
            oof=record.get("oof"),
        )


@dataclass
class GenerationCounts:
    """What the generator did for one set (from its ``.summary.json``)."""

    generated: int | None
    kept_after_cleaning: int | None
    removed_by_reason: dict[str, Any] | None
    calls_failed: int
    call_failures: dict[str, int]

    @classmethod
    def from_summary(cls, generation: dict[str, Any]) -> GenerationCounts:
        calls = generation.get("calls") or {}
        return cls(
            generation.get("generated"),
            generation.get("kept"),
            generation.get("removed_by_reason") or generation.get("removed"),
            calls.get("failed", 0),
            calls.get("failures", {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated": self.generated,
            "kept_after_cleaning": self.kept_after_cleaning,
            "removed_by_reason": self.removed_by_reason,
            "calls_failed": self.calls_failed,
            "call_failures": self.call_failures,
        }


@dataclass
class FilterOutcome:
    """Rows of one set the filter kept (``work/synthetic/NAME.filter.json``), or why there are none."""

    rows: int
    filter: str | None = None  # "off" or "classifier"; None when there was nothing to filter
    filter_removed: int = 0
    filter_removed_by_reason: dict[str, Any] = field(default_factory=dict)
    label_fidelity: float | None = None
    fidelity_per_label: dict[str, Any] | None = None
    why_empty: str | None = None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"rows": self.rows}
        if self.filter is not None:
            record["filter"] = self.filter
        if self.filter == "classifier":
            record |= {
                "filter_removed": self.filter_removed,
                "filter_removed_by_reason": self.filter_removed_by_reason,
                "label_fidelity": self.label_fidelity,
                "fidelity_per_label": self.fidelity_per_label,
            }
        if self.why_empty is not None:
            record["why_empty"] = self.why_empty
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> FilterOutcome:
        return cls(
            rows=int(record.get("rows", 0)),
            filter=record.get("filter"),
            filter_removed=int(record.get("filter_removed", 0)),
            filter_removed_by_reason=record.get("filter_removed_by_reason") or {},
            label_fidelity=record.get("label_fidelity"),
            fidelity_per_label=record.get("fidelity_per_label"),
            why_empty=record.get("why_empty"),
        )


@dataclass
class SyntheticSet:
    """One (strategy, temperature) set: skipped (with why), generated but unusable, or generated and filtered."""

    name: str
    strategy: str
    temperature: float
    skipped: str | None = None  # a key of SKIP_REASONS
    skip_call_failures: dict[str, int] | None = None  # set when the generator failed before this set ran
    generation: GenerationCounts | None = None
    outcome: FilterOutcome | None = None
    details: dict[str, Any] | None = None  # how a set not written by a generator was made (self-training: threshold, pool)

    @property
    def rows(self) -> int:
        return self.outcome.rows if self.outcome else 0

    @property
    def generated(self) -> bool:
        """Generated and not yet given an outcome: the filter stage's work."""
        return self.skipped is None and self.outcome is None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name, "strategy": self.strategy, "temperature": self.temperature}
        if self.skipped is not None:
            record["skipped"] = self.skipped
        if self.skip_call_failures is not None:
            record |= {"calls_failed": sum(self.skip_call_failures.values()), "call_failures": self.skip_call_failures}
        if self.generation is not None:
            record |= self.generation.to_dict()
        if self.outcome is not None:
            record |= self.outcome.to_dict()
        if self.details is not None:
            record |= self.details
        return record


@dataclass
class GridCell:
    """One augmented model of the grid (a line of ``work/grid.jsonl``): trained, skipped or failed."""

    key: str
    set_name: str
    share: float
    weight: float
    skipped: str | None = None
    failed: str | None = None
    strategy: str | None = None
    temperature: float | None = None
    achieved_share: float = 0.0
    synthetic_rows: int = 0
    seconds: float = 0.0
    val_macro_f1: float | None = None
    val_pred: list[int] | None = None
    oof: dict[str, Any] | None = None

    @property
    def trained(self) -> bool:
        return self.val_pred is not None

    def to_dict(self, heldout_macro_f1: float | None = None) -> dict[str, Any]:
        """The line of ``grid.jsonl``; in ``build.json`` with the macro-F1 on all held-out rows the decide stage computed."""
        head = {"key": self.key, "set": self.set_name}
        if not self.trained:
            reason = {"skipped": self.skipped} if self.skipped is not None else {"failed": self.failed}
            return head | {"share": self.share, "weight": self.weight} | reason
        record = head | {
            "strategy": self.strategy,
            "temperature": self.temperature,
            "share": self.share,
            "achieved_share": self.achieved_share,
            "weight": self.weight,
            "synthetic_rows": self.synthetic_rows,
            "seconds": self.seconds,
            "val_macro_f1": self.val_macro_f1,
            "val_pred": self.val_pred,
            "oof": self.oof,
        }
        if heldout_macro_f1 is not None:
            record["heldout_macro_f1"] = heldout_macro_f1
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> GridCell:
        names = {"set": "set_name"}
        fields = cls.__dataclass_fields__
        return cls(**{names.get(key, key): value for key, value in record.items() if names.get(key, key) in fields})


@dataclass
class ShipDecision:
    """The ship rule's outcome (``work/decision.json``) with the cell it judged and the model that ships."""

    decision: Decision
    best_cell: str | None
    shipped: str
    shipped_dir: Path
    human_heldout_macro_f1: float
    best_heldout_macro_f1: float | None
    #: every trained cell's macro-F1 on the held-out rows it was compared on, by key (not in decision.json)
    heldout: dict[str, float] = field(default_factory=dict)

    @property
    def ship_synthetic(self) -> bool:
        return self.decision.ship_synthetic

    def to_dict(self) -> dict[str, Any]:
        return self.decision.to_dict() | {
            "best_cell": self.best_cell,
            "shipped": self.shipped,
            "human_heldout_macro_f1": self.human_heldout_macro_f1,
            "best_heldout_macro_f1": self.best_heldout_macro_f1,
        }


@dataclass
class BuildResult:
    """What :func:`synthgrade.build.run_build` returns: the folder, what shipped and why, and ``build.json``'s content."""

    out: Path
    shipped: str
    ship_synthetic: bool
    verdict: str
    decision: dict[str, Any]
    evaluation: dict[str, Any]
    report: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildState:
    """What the stages of one run have produced so far; each stage fills the fields it declares in ``produces``."""

    human: HumanOnly | None = None
    sets: list[SyntheticSet] = field(default_factory=list)
    cells: list[GridCell] = field(default_factory=list)
    decision: ShipDecision | None = None
    student_dir: Path | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    result: BuildResult | None = None
