"""Stage 10, report: the verdict, ``build.json`` and the HTML report, with the verdict at the top."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from synthgrade.build.records import BuildResult, BuildState, without_per_row
from synthgrade.build.stage import Stage, minutes
from synthgrade.build.verdict import Verdict, build_verdict
from synthgrade.console import console
from synthgrade.io import write_json


class ReportStage(Stage):
    """Writes ``OUT/report/index.html`` and ``OUT/build.json``, then marks the build finished in ``work/state.json``."""

    name = "report"
    reads = ("human", "sets", "cells", "decision", "student_dir", "evaluation")
    produces = ("result",)

    def run(self, state: BuildState) -> None:
        from synthgrade.build.report import write_build_report

        assert state.decision is not None
        decision = state.decision.to_dict()
        sets = [entry.to_dict() for entry in state.sets]
        cells = [cell.to_dict(state.decision.heldout.get(cell.key)) for cell in state.cells]
        outcome = build_verdict(decision, state.evaluation, sets, cells, self.config.model_dump(mode="json"))
        summary = self.summary(state, outcome, decision, sets, cells)
        self.announce()
        report = write_build_report(self.layout.root, summary)
        write_json(self.layout.summary, summary)
        self.context.save_state(finished=True)
        console.print(f"[bold]{escape(outcome.text)}[/bold]", highlight=False)
        for step in outcome.next_steps:
            console.print(f"next: {escape(step.text)}", highlight=False)
        console.print(f"model: {self.layout.model}; report: {report}; build took {minutes(self.clock.elapsed)}", highlight=False)
        shipped = state.decision.shipped
        state.result = BuildResult(
            self.layout.root, shipped, state.decision.ship_synthetic, outcome.text, decision, state.evaluation, report, summary
        )

    def summary(
        self,
        state: BuildState,
        outcome: Verdict,
        decision: dict[str, Any],
        sets: list[dict[str, Any]],
        cells: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """``build.json``: the verdict, what shipped, why, and every record the stages made (without per-row predictions)."""
        data, human = self.data, state.human
        assert human is not None
        return {
            "verdict": outcome.text,
            "outcome": outcome.to_dict(),
            "shipped": decision["shipped"],
            "model": str(self.layout.model),
            "student": str(state.student_dir) if state.student_dir else None,
            "decision": decision,
            "human_only": without_per_row(human.to_dict()),
            "synthetic_sets": sets,
            "grid": [without_per_row(cell) for cell in cells],
            "evaluation": state.evaluation,
            "config": self.config.model_dump(mode="json"),
            "counts": {"train": len(data.train), "val": len(data.val)} | {k: len(v) for k, v in data.tests.items()},
            "elapsed_s": round(self.clock.elapsed, 1),
        }
