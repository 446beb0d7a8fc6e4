"""Stage 2, human-only: the scorer trained on the human training rows alone (``--model``, chosen on validation rows)."""

from __future__ import annotations

import time
from typing import Any

from synthgrade.build.records import BuildState, HumanOnly
from synthgrade.build.stage import Stage
from synthgrade.console import console
from synthgrade.io import atomic_directory, read_json, write_json
from synthgrade.train.selftrain import aligned_proba


def scorer_spec(scorer: Any, fallback: str) -> str:
    """The spec a grid cell trains: the candidate ``auto`` chose, else the kind asked for."""
    training = scorer.info.training or {}
    chosen = (training.get("auto") or {}).get("chosen")
    if chosen:
        return str(chosen)
    return fallback if fallback != "auto" else (scorer.info.base_model or scorer.info.kind)


def fit_seconds(scorer: Any, total: float) -> float:
    """Seconds the chosen scorer took to fit (``auto`` tries several candidates; a grid cell fits only the chosen kind)."""
    auto = (scorer.info.training or {}).get("auto") or {}
    chosen = next((row for row in auto.get("leaderboard", []) if row.get("model") == auto.get("chosen")), None)
    return round(float(chosen["seconds"]), 1) if chosen and chosen.get("seconds") else round(total, 1)


class HumanOnlyStage(Stage):
    name = "human-only"
    produces = ("human",)

    def run(self, state: BuildState) -> None:
        from synthgrade.train import Trainer, TrainingArguments

        record_path, model_dir = self.layout.human_record, self.layout.human_model
        self.announce(f"training the human-only scorer ({self.config.model}) on {len(self.data.train):,} rows")
        if record_path.exists() and model_dir.exists():
            state.human = HumanOnly.from_dict(read_json(record_path))
            console.print(f"done before: {state.human.spec}, validation macro-F1 {state.human.val_macro_f1:.3f}", highlight=False)
            return
        config = self.config
        args = TrainingArguments(model=config.model, candidates=config.candidates, seed=config.seed, labels=self.labels)
        tick = time.perf_counter()
        provenance = {"build": str(self.layout.root), "arm": "human-only"}
        scorer = Trainer(args).train(self.data.train, self.data.val, provenance=provenance)
        seconds = time.perf_counter() - tick
        with atomic_directory(model_dir) as tmp:
            scorer.save_pretrained(tmp)
        val_macro_f1, val_pred = self.validation(aligned_proba(scorer, self.data.val, self.labels))
        state.human = HumanOnly(
            spec=scorer_spec(scorer, config.model),
            val_macro_f1=val_macro_f1,
            val_pred=val_pred,
            seconds=round(seconds, 1),
            fit_seconds=fit_seconds(scorer, seconds),
            oof=(scorer.info.training or {}).get("oof"),
        )
        write_json(record_path, state.human.to_dict())
        self.context.save_state()
        self.clock.note(f"human-only: {state.human.spec}, validation macro-F1 {state.human.val_macro_f1:.3f}")

    def validation(self, proba: Any) -> tuple[float, list[int]]:
        """Macro-F1 on the validation rows and the predicted label per row."""
        from synthgrade.metrics import point_metrics

        f1 = point_metrics(self.context.label_index(self.data.val), proba, self.labels)["macro_f1"]
        return float(f1 or 0.0), proba.argmax(axis=1).tolist()
