"""Stage 7, decide: the best cell on the held-out human rows ships only when the ship rule supports its gain.

The rule is :func:`synthgrade.build.decision.decide`: the one-sided lower bound of the best cell's paired
bootstrap gain in macro-F1 over human-only, at a level corrected for the cells tried (Bonferroni), must
exceed ``--margin``. The held-out rows are the validation rows pooled with the out-of-fold predictions of
the training rows where the kind cross-validates. The shipped model is copied to ``OUT/model``.
"""

from __future__ import annotations

import shutil

import numpy as np

from synthgrade.build.decision import decide, macro_f1, pooled_evidence
from synthgrade.build.records import BuildState, GridCell, HumanOnly, ShipDecision
from synthgrade.build.stage import Stage
from synthgrade.io import atomic_directory, write_json


class DecideStage(Stage):
    """Writes ``work/decision.json`` and ``OUT/model`` on every run (cheap, and a resumed grid may have new cells)."""

    name = "decide"
    reads = ("human", "cells")
    produces = ("decision",)

    def run(self, state: BuildState) -> None:
        human = state.human
        assert human is not None
        trained = [cell for cell in state.cells if cell.trained]
        evidence = self.evidence(human, trained)
        k = len(self.labels)
        heldout = {key: macro_f1(y, cell_pred, k) for key, (y, _, cell_pred, _) in evidence.items()}
        # Ties go to fewer synthetic rows, then the smaller weight: the cheaper, more conservative model.
        best = max(trained, key=lambda c: (heldout[c.key], -c.synthetic_rows, -c.weight)) if trained else None
        y_val, human_val = self.context.label_index(self.data.val), np.asarray(human.val_pred)
        y, human_pred, best_pred = evidence[best.key][:3] if best else (y_val, human_val, None)
        config = self.config
        result = decide(
            y,
            human_pred,
            best_pred,
            k,
            cells=len(trained),
            margin=config.margin,
            confidence=config.confidence,
            bootstrap=config.bootstrap,
            seed=config.seed,
        )
        ships_cell = result.ship_synthetic and best is not None
        state.decision = ShipDecision(
            decision=result,
            best_cell=best.key if best else None,
            shipped=best.key if ships_cell and best else "human-only",
            shipped_dir=self.layout.grid_model(best.key) if ships_cell and best else self.layout.human_model,
            human_heldout_macro_f1=round(macro_f1(y, human_pred, k), 4),
            best_heldout_macro_f1=round(heldout[best.key], 4) if best else None,
            heldout=heldout,
        )
        self.announce(result.reason)
        write_json(self.layout.decision, state.decision.to_dict())
        with atomic_directory(self.layout.model) as tmp:
            shutil.copytree(state.decision.shipped_dir, tmp, dirs_exist_ok=True)

    def evidence(self, human: HumanOnly, trained: list[GridCell]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
        """Per cell: the held-out truth, human-only's and the cell's predictions on it, and the out-of-fold rows used."""
        y_val = self.context.label_index(self.data.val)
        train = self.data.train
        train_labels = dict(zip(train["id"].astype(str), self.context.label_index(train).tolist(), strict=True))
        human_val = np.asarray(human.val_pred)
        return {
            cell.key: pooled_evidence(y_val, human_val, np.asarray(cell.val_pred), train_labels, human.oof, cell.oof)
            for cell in trained
        }
