"""Hinton-style knowledge distillation: the ``transformer`` kind's trainer with three hooks overridden.

loss = alpha * CE(student, hard labels) + (1 - alpha) * tau^2 * KL(teacher_tau || student_tau)

Like SetFit's ``DistillationTrainer``, it reuses :class:`~synthgrade.scorers.transformer.TransformerTrainer`'s
loop, batching, early stopping and checkpoint selection, and overrides only what differs: the targets
(:meth:`training_set`: the teacher's probabilities, plus optional unlabeled responses that contribute only
the KL term), the loss (:meth:`compute_loss`) and what is saved (:meth:`record`: agreement, sizes, speed-up).
The teacher is any :class:`Scorer`: its probabilities are computed once, and ``log p`` serves as its logits
(softmax is shift-invariant, so ``softmax(log p / tau)`` is the usual tempered target). Early stopping and
the kept checkpoint use the human validation split only, as in the Trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.console import console
from synthgrade.data import is_synthetic
from synthgrade.distill.summary import speed_summary, teacher_parameters
from synthgrade.errors import ParameterError
from synthgrade.modeling import ItemEntry, ModelInfo, Scorer, item_bank_from
from synthgrade.scorers import TrainingArguments
from synthgrade.scorers.hybrid import HybridScorer
from synthgrade.scorers.transformer import TransformerTrainer, count_parameters
from synthgrade.scorers.transformer.data import EncodedSet, encode_frame
from synthgrade.train.inputs import check_training_data, training_provenance


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
            raise ParameterError("tau", f"must be positive, got {self.tau}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ParameterError("alpha", f"must be between 0 and 1, got {self.alpha}")
        super().__post_init__()


class DistillationTrainer(TransformerTrainer):
    """``DistillationTrainer(teacher, args).train(transfer_df, val_df, unlabeled_df=None)`` returns the student."""

    def __init__(self, teacher: Scorer, args: DistillationArguments | None = None) -> None:
        super().__init__(args or DistillationArguments())
        self.args: DistillationArguments
        self.teacher = teacher
        self.unlabeled_df: pd.DataFrame | None = None
        self.teacher_probs: np.ndarray | None = None

    def train(  # type: ignore[override]
        self,
        transfer_df: pd.DataFrame,
        val_df: pd.DataFrame,
        unlabeled_df: pd.DataFrame | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> Scorer:
        """Distil the teacher into the student on the transfer set; select on ``val_df`` (human rows only)."""
        from synthgrade.distill.students import build_student

        args, teacher = self.args, self.teacher
        check_training_data(transfer_df, val_df, unlabeled_df, name="transfer (training)")
        provenance = training_provenance(transfer_df, val_df, provenance)
        if isinstance(teacher, HybridScorer):
            from synthgrade.distill.hybrid_student import distill_hybrid

            return distill_hybrid(teacher, transfer_df, val_df, unlabeled_df, args, provenance)
        from transformers import set_seed

        set_seed(args.seed)
        student = build_student(args.student, teacher, teacher.labels, self.student_info(transfer_df, val_df))
        self.unlabeled_df = unlabeled_df
        super().train(student, transfer_df, val_df)
        student.info.provenance = provenance | {
            "teacher": {
                "base_model": teacher.info.base_model,
                "kind": teacher.info.kind,
                "parameters": student.info.training["distillation"]["teacher_parameters"],
                "provenance": teacher.info.provenance,
            }
        }
        return student

    def student_info(self, transfer_df: pd.DataFrame, val_df: pd.DataFrame) -> ModelInfo:
        """The student's metadata: the teacher's labels, input mode and item bank (plus items only these rows have)."""
        teacher = self.teacher
        bank: dict[str, ItemEntry] = dict(teacher.info.item_bank)
        for key, entry in item_bank_from(pd.concat([transfer_df[~is_synthetic(transfer_df)], val_df], ignore_index=True)).items():
            bank.setdefault(key, entry)
        return ModelInfo(
            kind="transformer",
            labels=teacher.labels,
            input_mode=teacher.info.input_mode,
            max_length=self.args.max_length or teacher.info.max_length,
            item_bank=bank,
            base_model=self.args.student,
            ordinal=teacher.info.ordinal,
        )

    # -- hooks ------------------------------------------------------------------------------------------
    def training_set(self, scorer: Any, train_df: pd.DataFrame) -> EncodedSet:
        """The transfer rows (labels optional) and any unlabeled rows, each with the teacher's probabilities."""
        args, teacher, unlabeled_df = self.args, self.teacher, self.unlabeled_df
        if args.show_progress:
            rows = len(train_df) + (len(unlabeled_df) if unlabeled_df is not None else 0)
            console.print(f"scoring {rows} transfer rows with the teacher")
        self.teacher_probs = teacher.predict_proba(train_df, batch_size=args.eval_batch_size)
        labels, info, tokenizer = scorer.labels, scorer.info, scorer.tokenizer
        train_set = encode_frame(train_df, info, tokenizer, labels, args.cache_dir, allow_unlabeled=True)
        train_set.targets = self.teacher_probs
        if unlabeled_df is not None and not unlabeled_df.empty:
            extra = encode_frame(
                unlabeled_df.drop(columns=["label"], errors="ignore"), info, tokenizer, labels, args.cache_dir, True
            )
            extra.targets = teacher.predict_proba(unlabeled_df, batch_size=args.eval_batch_size)
            train_set = concat_sets(train_set, extra)
        return train_set

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

    def record(self, scorer: Any, train_df: pd.DataFrame, val_df: pd.DataFrame, val_set: EncodedSet, started: float) -> None:
        """The student's own training record plus ``distillation``: agreement with the teacher, sizes, speed-up."""
        super().record(scorer, train_df, val_df, val_set, started)
        summary = self.distillation_summary(scorer, train_df, val_df, val_set)
        scorer.info.training["distillation"] = summary
        if self.args.show_progress:
            console.print(
                f"student agrees with the teacher on {summary['agreement_val']:.1%} of validation rows; "
                f"{summary['student_parameters']:,} vs {summary['teacher_parameters'] or 0:,} parameters"
                + (f", {summary['speedup']}x faster" if "speedup" in summary else ""),
                highlight=False,
            )

    def distillation_summary(
        self, student: Any, transfer_df: pd.DataFrame, val_df: pd.DataFrame, val_set: EncodedSet
    ) -> dict[str, Any]:
        """How closely the student follows the teacher (validation and transfer rows), their sizes and speeds."""
        from synthgrade.metrics import point_metrics

        args, teacher, labels = self.args, self.teacher, student.labels
        teacher_val = teacher.predict_proba(val_df, batch_size=args.eval_batch_size)
        student_val = self.evaluate_split(student.model, val_set, student.tokenizer.pad_token_id or 0)["proba"]
        student_transfer = student.predict_proba_inputs(*student.check_scorable(transfer_df), batch_size=args.eval_batch_size)
        assert self.teacher_probs is not None
        summary: dict[str, Any] = {
            "student": args.student,
            "tau": args.tau,
            "alpha": args.alpha,
            "transfer_rows": int(len(transfer_df)),
            "unlabeled_rows": int(len(self.unlabeled_df)) if self.unlabeled_df is not None else 0,
            "agreement_val": float((teacher_val.argmax(1) == student_val.argmax(1)).mean()),
            "agreement_transfer": float((self.teacher_probs.argmax(1) == student_transfer.argmax(1)).mean()),
            "teacher_validation": point_metrics(val_set.labels, teacher_val, labels, ordinal=student.info.ordinal),
            "student_validation": student.info.training["validation"],
            "teacher_parameters": teacher_parameters(teacher),
            "student_parameters": count_parameters(student.model),
        }
        if summary["teacher_parameters"]:
            summary["parameter_ratio"] = round(summary["student_parameters"] / summary["teacher_parameters"], 4)
        return summary | speed_summary(teacher, student, val_df, args)


def concat_sets(a: EncodedSet, b: EncodedSet) -> EncodedSet:
    types = a.token_type_ids + b.token_type_ids if a.token_type_ids is not None and b.token_type_ids is not None else None
    targets = np.vstack([a.targets, b.targets]) if a.targets is not None and b.targets is not None else None
    return EncodedSet(a.ids + b.ids, a.input_ids + b.input_ids, types, np.concatenate([a.labels, b.labels]), targets)
