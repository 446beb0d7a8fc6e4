"""Stage 9, evaluate: every model once on every untouched test set, with paired differences against human-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from synthgrade.build.records import BuildState
from synthgrade.build.stage import Stage
from synthgrade.io import read_json, write_json
from synthgrade.train.selftrain import aligned_proba


class EvaluateStage(Stage):
    """Writes ``work/evaluation.json`` and the shipped model's test evaluation on its model card; reused for the same models."""

    name = "evaluate"
    reads = ("cells", "decision", "student_dir")
    produces = ("evaluation",)

    def run(self, state: BuildState) -> None:
        assert state.decision is not None
        shipped, path = state.decision.shipped, self.layout.evaluation
        self.announce("every model once on the untouched test rows: " + ", ".join(self.data.tests))
        arms: dict[str, Path] = {"human-only": self.layout.human_model}
        arms |= {cell.key: self.layout.grid_model(cell.key) for cell in state.cells if cell.trained}
        if state.student_dir is not None:
            arms["student"] = state.student_dir
        # Reused only for the same models: a rerun that generated what a dead server could not has new cells.
        done = read_json(path) if path.exists() else {}
        if done.get("shipped") == shipped and done.get("arms", sorted(arms)) == sorted(arms):
            state.evaluation = done
            return
        result: dict[str, Any] = {"shipped": shipped, "arms": sorted(arms), "bootstrap": self.config.bootstrap, "tests": {}}
        for test_name, frame in self.data.tests.items():
            result["tests"][test_name] = self.evaluate_test(test_name, frame, arms, shipped)
        write_json(path, result)
        state.evaluation = result

    def evaluate_test(self, test_name: str, frame: pd.DataFrame, arms: dict[str, Path], shipped: str) -> dict[str, Any]:
        """Every arm's headline metrics on one test set (the shipped one also under ``shipped``)."""
        from synthgrade.data import frame_hash
        from synthgrade.evaluate import record_evaluation
        from synthgrade.metrics import HEADLINE, evaluate_predictions
        from synthgrade.modeling import load_scorer

        y = self.context.label_index(frame)
        probas = {name: aligned_proba(load_scorer(directory), frame, self.labels) for name, directory in arms.items()}
        per_arm = {}
        for name, proba in probas.items():
            compare = probas["human-only"] if name != "human-only" else None
            metrics = evaluate_predictions(
                y, proba, self.labels, bootstrap=self.config.bootstrap, seed=self.config.seed, compare_proba=compare
            )
            entry = {metric: metrics[metric] for metric in HEADLINE} | {"n": metrics["n"]}
            if compare is not None:
                entry["diff_vs_human_only"] = {m: {k: v for k, v in metrics["diff"][m].items() if k != "other"} for m in HEADLINE}
            per_arm[name] = entry
            if name == shipped:
                record_evaluation(self.layout.model, {**metrics, "test_hash": frame_hash(frame)}, test_name=f"build:{test_name}")
        per_arm["shipped"] = per_arm[shipped]
        return per_arm
