"""Stage 5, self-train (``--unlabeled POOL`` only): the uncoded responses the human-only scorer labels confidently
become one more synthetic set of the grid (:mod:`synthgrade.train.selftrain` gives the rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from synthgrade.build.records import BuildState, FilterOutcome, SyntheticSet
from synthgrade.build.stage import Stage
from synthgrade.data import write_table
from synthgrade.io import read_json, write_json
from synthgrade.train.selftrain import SELF_TRAINING, aligned_proba, choose_threshold, pseudo_label


class SelfTrainStage(Stage):
    """Writes ``work/synthetic/self-training.kept.jsonl``, its ``.filter.json`` record and the usable pool (reused)."""

    name = "self-train"
    reads = ("human", "sets")
    produces = ("sets",)

    def run(self, state: BuildState) -> None:
        pool = self.data.unlabeled
        if pool is None:
            return
        layout = self.layout
        kept_path, record_path, pool_path = (
            layout.kept_synthetic(SELF_TRAINING),
            layout.filter_record(SELF_TRAINING),
            layout.unlabeled_pool,
        )
        self.announce(f"pseudo-labelling {len(pool.frame):,} uncoded responses with the human-only scorer")
        if not (record_path.exists() and kept_path.exists() and pool_path.exists()):
            write_json(record_path, self.pseudo_labels(pool.frame, kept_path, pool_path) | {"pool_left_out": pool.left_out})
        record = read_json(record_path)
        why_empty = None if record["rows"] else f"no uncoded response reached the threshold ({record['usable_pool']} usable)"
        outcome = FilterOutcome(int(record["rows"]), why_empty=why_empty)
        details = {key: record[key] for key in ("threshold", "cap", "usable_pool", "pool_left_out", "thresholds")}
        state.sets = [*state.sets, SyntheticSet(SELF_TRAINING, SELF_TRAINING, 0.0, outcome=outcome, details=details)]
        self.clock.note(
            f"{SELF_TRAINING}: {record['rows']} of {record['usable_pool']} uncoded responses pseudo-labelled "
            f"(threshold {record['threshold']:g}, chosen on the validation rows)"
        )

    def pseudo_labels(self, pool: pd.DataFrame, kept_path: Path, pool_path: Path) -> dict[str, Any]:
        """Choose the threshold on the validation rows, pseudo-label the pool, write the set; returns the record."""
        from synthgrade.modeling import load_scorer

        scorer = load_scorer(self.layout.human_model)
        y_val = self.context.label_index(self.data.val)
        threshold, table = choose_threshold(aligned_proba(scorer, self.data.val, self.labels), y_val)
        cap = self.config.pseudo_cap
        pseudo = pseudo_label(scorer, pool, self.data.train, self.labels, threshold, cap)
        write_table(pool, pool_path)
        write_table(pseudo, kept_path)
        by_label = pseudo["label"].value_counts().to_dict() if len(pseudo) else {}
        return {
            "rows": len(pseudo),
            "by_label": {str(k): int(v) for k, v in by_label.items()},
            "threshold": threshold,
            "thresholds": table,
            "cap": cap,
            "usable_pool": len(pool),
        }
