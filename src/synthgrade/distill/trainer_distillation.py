"""Hinton-style knowledge distillation, mirroring :class:`synthgrade.train.Trainer`.

loss = alpha * CE(student, hard labels) + (1 - alpha) * tau^2 * KL(teacher_tau || student_tau)

The transfer set is the training mix plus optional unlabeled responses (those contribute only the KL
term). The teacher is any :class:`Scorer`: its probabilities are computed once, and ``log p`` serves as
its logits (softmax is shift-invariant, so ``softmax(log p / tau)`` is the usual tempered target).
Early stopping and the kept checkpoint use the human validation split only, as in the Trainer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.console import console
from synthgrade.data import check_disjoint, check_human_validation, is_synthetic
from synthgrade.errors import SynthgradeError
from synthgrade.modeling import ItemEntry, ModelInfo, Scorer, item_bank_from
from synthgrade.train.data import EncodedSet, encode_frame
from synthgrade.train.trainer import Trainer, count_parameters, set_seed
from synthgrade.train.training_args import TrainingArguments


@dataclass
class DistillationArguments(TrainingArguments):
    """Training arguments plus the student spec, temperature and loss mix.

    ``lr`` and ``max_length`` default per student: 1e-4 for transformer students, 5e-3 for ``static``;
    the teacher's maximum length.
    """

    student: str = "layers:3"
    tau: float = 2.0
    alpha: float = 0.5
    lr: float | None = None  # type: ignore[assignment]
    max_length: int | None = None  # type: ignore[assignment]
    #: Rows used to time teacher and student for the recorded speed-up (0 = skip).
    speed_rows: int = 256

    def __post_init__(self) -> None:
        if self.lr is None:
            self.lr = 5e-3 if self.student.strip() == "static" else 1e-4
        if not self.tau > 0:
            raise SynthgradeError(f"--tau must be positive, got {self.tau}")
        if not 0.0 <= self.alpha <= 1.0:
            raise SynthgradeError(f"--alpha must be between 0 and 1, got {self.alpha}")
        super().__post_init__()


def speed_summary(teacher: Scorer, student: Scorer, val_df: pd.DataFrame, args: DistillationArguments) -> dict[str, Any]:
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


class DistillationTrainer(Trainer):
    """``DistillationTrainer(teacher, args).train(transfer_df, val_df, unlabeled_df=None)`` returns the student."""

    def __init__(self, teacher: Scorer, args: DistillationArguments | None = None) -> None:
        super().__init__(args or DistillationArguments())
        self.args: DistillationArguments
        self.teacher = teacher

    def train(  # type: ignore[override]
        self,
        transfer_df: pd.DataFrame,
        val_df: pd.DataFrame,
        unlabeled_df: pd.DataFrame | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> Scorer:
        """Distil the teacher into the student on the transfer set; select on ``val_df`` (human rows only)."""
        from synthgrade.distill.students import build_student
        from synthgrade.metrics import point_metrics

        args, teacher = self.args, self.teacher
        check_human_validation(val_df)
        if transfer_df.empty:
            raise SynthgradeError("the transfer (training) data has no rows")
        check_disjoint(transfer_df, val_df)
        if unlabeled_df is not None:
            check_disjoint(unlabeled_df, val_df)
        from synthgrade.train.hybrid import HybridScorer

        if isinstance(teacher, HybridScorer):
            from synthgrade.distill.hybrid_student import distill_hybrid

            provenance = self.provenance_for(transfer_df, val_df, provenance)
            return distill_hybrid(teacher, transfer_df, val_df, unlabeled_df, args, provenance)
        labels = teacher.labels
        started = time.perf_counter()
        set_seed(args.seed)
        bank: dict[str, ItemEntry] = dict(teacher.info.item_bank)
        for key, entry in item_bank_from(pd.concat([transfer_df[~is_synthetic(transfer_df)], val_df], ignore_index=True)).items():
            bank.setdefault(key, entry)
        info = ModelInfo(
            kind="transformer",
            labels=labels,
            input_mode=teacher.info.input_mode,
            max_length=args.max_length or teacher.info.max_length,
            item_bank=bank,
            base_model=args.student,
            ordinal=teacher.info.ordinal,
        )
        if args.show_progress:
            rows = len(transfer_df) + (len(unlabeled_df) if unlabeled_df is not None else 0)
            console.print(f"scoring {rows} transfer rows with the teacher")
        teacher_probs = teacher.predict_proba(transfer_df, batch_size=args.eval_batch_size)
        student = build_student(args.student, teacher, labels, info)
        tokenizer = student.tokenizer
        train_set = encode_frame(transfer_df, info, tokenizer, labels, args.cache_dir, allow_unlabeled=True)
        train_set.targets = teacher_probs
        if unlabeled_df is not None and not unlabeled_df.empty:
            extra = encode_frame(
                unlabeled_df.drop(columns=["label"], errors="ignore"), info, tokenizer, labels, args.cache_dir, True
            )
            extra.targets = teacher.predict_proba(unlabeled_df, batch_size=args.eval_batch_size)
            train_set = concat_sets(train_set, extra)
        val_set = encode_frame(val_df, info, tokenizer, labels, args.cache_dir)
        self.fit(student.model, tokenizer, train_set, val_set, labels)
        self.finish_info(student, student.model, val_set, labels, started)

        teacher_val = teacher.predict_proba(val_df, batch_size=args.eval_batch_size)
        student_val = self.evaluate_split(student.model, val_set, tokenizer.pad_token_id or 0)["proba"]
        student_transfer = student.predict_proba_inputs(*student.check_scorable(transfer_df), batch_size=args.eval_batch_size)
        summary: dict[str, Any] = {
            "student": args.student,
            "tau": args.tau,
            "alpha": args.alpha,
            "transfer_rows": int(len(transfer_df)),
            "unlabeled_rows": int(len(unlabeled_df)) if unlabeled_df is not None else 0,
            "agreement_val": float((teacher_val.argmax(1) == student_val.argmax(1)).mean()),
            "agreement_transfer": float((teacher_probs.argmax(1) == student_transfer.argmax(1)).mean()),
            "teacher_validation": point_metrics(val_set.labels, teacher_val, labels, ordinal=info.ordinal),
            "student_validation": student.info.training["validation"],
            "teacher_parameters": teacher_parameters(teacher),
            "student_parameters": count_parameters(student.model),
        }
        if summary["teacher_parameters"]:
            summary["parameter_ratio"] = round(summary["student_parameters"] / summary["teacher_parameters"], 4)
        summary |= speed_summary(teacher, student, val_df, args)
        student.info.training["distillation"] = summary
        student.info.provenance = self.provenance_for(transfer_df, val_df, provenance) | {
            "teacher": {
                "base_model": teacher.info.base_model,
                "kind": teacher.info.kind,
                "parameters": summary["teacher_parameters"],
                "provenance": teacher.info.provenance,
            }
        }
        if args.show_progress:
            console.print(
                f"student agrees with the teacher on {summary['agreement_val']:.1%} of validation rows; "
                f"{summary['student_parameters']:,} vs {summary['teacher_parameters'] or 0:,} parameters"
                + (f", {summary['speedup']}x faster" if "speedup" in summary else ""),
                highlight=False,
            )
        return student

    def compute_loss(self, logits: Any, index: np.ndarray, train_set: EncodedSet, class_weights: Any) -> Any:
        import torch
        import torch.nn.functional as F

        tau, alpha = self.args.tau, self.args.alpha
        assert train_set.targets is not None
        teacher_logp = torch.from_numpy(np.log(np.clip(train_set.targets[index], 1e-12, None))).float()
        soft_targets = torch.softmax(teacher_logp / tau, dim=-1)
        kl = F.kl_div(F.log_softmax(logits / tau, dim=-1), soft_targets, reduction="batchmean") * (tau**2)
        hard = torch.from_numpy(train_set.labels[index])
        labelled = hard >= 0
        if alpha > 0 and bool(labelled.any()):
            ce = F.cross_entropy(logits[labelled], hard[labelled], weight=class_weights)
            return alpha * ce + (1 - alpha) * kl
        return (1 - alpha) * kl if alpha < 1 else kl


def concat_sets(a: EncodedSet, b: EncodedSet) -> EncodedSet:
    types = a.token_type_ids + b.token_type_ids if a.token_type_ids is not None and b.token_type_ids is not None else None
    targets = np.vstack([a.targets, b.targets]) if a.targets is not None and b.targets is not None else None
    return EncodedSet(a.ids + b.ids, a.input_ids + b.input_ids, types, np.concatenate([a.labels, b.labels]), targets)
