"""Stage 8, distill: a cheaper student of the shipped model (``--student``), taught on the shipped model's training rows
(and the uncoded responses of ``--unlabeled``, which the teacher labels softly)."""

from __future__ import annotations

from typing import Any

from synthgrade.build.grid import mixed_rows
from synthgrade.build.records import BuildState
from synthgrade.build.stage import Stage
from synthgrade.console import console
from synthgrade.io import atomic_directory, read_json, write_json


def student_spec(requested: str, teacher: Any) -> str | None:
    """``--student auto``: none for TF-IDF (nothing is cheaper); a MiniLM hybrid for an mpnet hybrid (a static
    student would first distil mpnet's vocabulary, minutes on a CPU); static for the rest."""
    if requested == "none":
        return None
    if requested != "auto":
        return requested
    if teacher.info.kind == "tfidf":
        return None
    if teacher.info.kind == "hybrid":
        encoder = (teacher.info.training or {}).get("encoder", "")
        return "minilm-l6" if encoder == "mpnet-base" else "static"
    return "static"


class DistillStage(Stage):
    """Writes ``OUT/student`` and ``work/student.json``; a rerun reuses the student of the same teacher."""

    name = "distill"
    reads = ("decision", "cells")
    produces = ("student_dir",)

    def run(self, state: BuildState) -> None:
        from synthgrade.distill import DistillationArguments, DistillationTrainer
        from synthgrade.modeling import load_scorer

        decision = state.decision
        assert decision is not None
        shipped = decision.shipped
        teacher = load_scorer(decision.shipped_dir)
        spec = student_spec(self.config.student, teacher)
        record_path, student_dir = self.layout.student_record, self.layout.student
        self.announce(f"student of the shipped model ({shipped}): {spec or 'none'}")
        if spec is None:
            console.print("no student: the shipped model is already the cheapest kind", highlight=False)
            write_json(record_path, {"student": None})
            state.student_dir = None
            return
        state.student_dir = student_dir
        if record_path.exists() and student_dir.exists() and read_json(record_path).get("teacher") == shipped:
            return
        transfer = self.data.train
        if shipped != "human-only":
            cell = next(c for c in state.cells if c.key == shipped)
            transfer = mixed_rows(
                self.layout.root, self.data.train, cell.set_name, cell.share, self.labels, self.config.seed
            ).frame
        args = DistillationArguments(
            student=spec, seed=self.config.seed, labels=self.labels, speed_rows=min(256, len(self.data.val))
        )
        provenance = {"build": str(self.layout.root), "teacher": shipped}
        pool = self.data.unlabeled.frame if self.data.unlabeled is not None and len(self.data.unlabeled.frame) else None
        student = DistillationTrainer(teacher, args).train(transfer, self.data.val, pool, provenance=provenance)
        with atomic_directory(student_dir) as tmp:
            student.save_pretrained(tmp)
        write_json(record_path, {"student": spec, "teacher": shipped})
