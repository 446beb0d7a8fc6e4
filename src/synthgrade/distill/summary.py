"""What a distillation records besides the student's own training: sizes and the measured speed-up."""

from __future__ import annotations

from typing import Any

import pandas as pd

from synthgrade.modeling import Scorer
from synthgrade.scorers.transformer import count_parameters


def speed_summary(teacher: Scorer, student: Scorer, val_df: pd.DataFrame, args: Any) -> dict[str, Any]:
    """Teacher and student timed on the same validation rows, and the speed-up (empty with ``speed_rows=0``)."""
    if not args.speed_rows:
        return {}
    from synthgrade.speed import measure_speed

    rows = val_df.iloc[: args.speed_rows]
    teacher_speed = measure_speed(teacher, rows, batch_size=args.eval_batch_size, single=20)
    student_speed = measure_speed(student, rows, batch_size=args.eval_batch_size, single=20)
    summary: dict[str, Any] = {"speed": {"teacher": teacher_speed, "student": student_speed}}
    if teacher_speed["responses_per_s"] and student_speed["responses_per_s"]:
        summary["speedup"] = round(student_speed["responses_per_s"] / teacher_speed["responses_per_s"], 2)
    return summary


def teacher_parameters(teacher: Scorer) -> int | None:
    model = getattr(teacher, "model", None)
    if model is not None and hasattr(model, "parameters"):
        return count_parameters(model)
    return teacher.info.parameters
