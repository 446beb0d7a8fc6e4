"""Stage 4, filter: keep the synthetic rows whose intended label the human-only scorer supports; every drop is counted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthgrade.build.records import BuildState, FilterOutcome, SyntheticSet
from synthgrade.build.stage import Stage
from synthgrade.console import console
from synthgrade.data import write_table
from synthgrade.io import read_json, write_json


class FilterStage(Stage):
    """Writes ``work/synthetic/NAME.kept.jsonl`` and ``NAME.filter.json`` per generated set (reused when both exist)."""

    name = "filter"
    reads = ("human", "sets")
    produces = ("sets",)

    def run(self, state: BuildState) -> None:
        if not self.config.augment:
            return
        if self.config.filter == "classifier":
            self.announce(f"keeping rows the human-only scorer gives their intended label (p >= {self.config.min_confidence})")
        for entry in state.sets:
            if entry.generated:
                entry.outcome = self.filter_set(entry)
        if not any(entry.rows for entry in state.sets):
            console.print(
                "[yellow]no usable synthetic rows:[/yellow] "
                + "; ".join(f"{s.name}: {s.skipped or (s.outcome and s.outcome.why_empty) or 'no rows'}" for s in state.sets),
                highlight=False,
            )
        self.context.save_state()

    def filter_set(self, entry: SyntheticSet) -> FilterOutcome:
        """Classifier agreement with the human-only scorer (or no filter), for one generated set."""
        raw_path = self.layout.raw_synthetic(entry.name)
        kept_path, record_path = self.layout.kept_synthetic(entry.name), self.layout.filter_record(entry.name)
        if record_path.exists() and kept_path.exists():
            return FilterOutcome.from_dict(read_json(record_path))
        raw = pd.read_json(raw_path, lines=True, dtype=False) if raw_path.stat().st_size else pd.DataFrame()
        if raw.empty:
            outcome = FilterOutcome(0, why_empty="the generator produced no usable rows (see the .summary.json)")
        elif self.config.filter == "off":
            outcome = FilterOutcome(int(len(raw)), filter="off")
            write_table(raw, kept_path)
        else:
            outcome = self.classifier_filter(raw, kept_path)
        if not kept_path.exists():
            write_table(raw if not raw.empty else pd.DataFrame(columns=["id", "text", "label"]), kept_path)
        write_json(record_path, outcome.to_dict())
        counts = entry.generation
        assert counts is not None
        fidelity = f" (label fidelity {outcome.label_fidelity:.0%})" if outcome.label_fidelity is not None else ""
        console.print(
            f"{entry.name}: {counts.generated} generated, {counts.kept_after_cleaning} after cleaning, {outcome.rows} kept"
            + fidelity,
            highlight=False,
        )
        return outcome

    def classifier_filter(self, raw: pd.DataFrame, kept_path: Path) -> FilterOutcome:
        from synthgrade.filter import FilterConfig, filter_synthetic

        settings = FilterConfig(
            method=["classifier"], classifier=str(self.layout.human_model), min_confidence=self.config.min_confidence
        )
        filtered = filter_synthetic(raw, settings, show_progress=False)
        step = filtered.summary["steps"][0] if filtered.summary["steps"] else {}
        outcome = FilterOutcome(
            rows=int(filtered.summary["kept"]),
            filter="classifier",
            filter_removed=int(filtered.summary["removed"]),
            filter_removed_by_reason=filtered.summary["removed_by_reason"],
            label_fidelity=step.get("agreement"),
            fidelity_per_label=step.get("per_label"),
        )
        if filtered.frame.empty:
            outcome.why_empty = f"the filter kept none of {len(raw)} rows (label fidelity {step.get('agreement')})"
        write_table(filtered.frame, kept_path)
        return outcome
