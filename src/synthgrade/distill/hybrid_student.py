"""Students of a hybrid teacher: the same hybrid design over a cheaper encoder, fitted to the teacher's labels.

A hybrid teacher has no network to shrink (its encoder is frozen), so its student keeps the lexical and
neighbour features and swaps the encoder: ``static`` is a model2vec static encoder distilled from the
teacher's own encoder (one vector per token: no transformer layers at scoring time); any encoder name
(``minilm-l6``) gives a hybrid over that encoder. The student is fitted on the teacher's predicted labels
for the transfer rows plus any unlabeled rows (the teacher labels what humans did not), and selected and
reported on the human validation rows only, as every scorer is.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from synthgrade.console import console
from synthgrade.data.schema import LABEL
from synthgrade.embed import STATIC_PREFIX, distill_static, encoder_parameters
from synthgrade.io import stable_hash
from synthgrade.modeling import Scorer
from synthgrade.registry import REGISTRY, model_cache_dir
from synthgrade.train.hybrid import HybridScorer, split_encoder, train_hybrid
from synthgrade.train.training_args import TrainingArguments


def static_encoder_for(encoder: str) -> str:
    """``static:<folder>`` distilled from ``encoder``, made once per encoder in the model cache."""
    _, name = split_encoder(encoder)
    key = name if name in REGISTRY else "path-" + stable_hash(name, 12)
    folder = model_cache_dir() / "static" / key
    if not (folder / "config.json").exists():
        console.print(f"distilling a static encoder from {name} (once; cached in {folder})", highlight=False)
        distill_static(name, folder)
    return STATIC_PREFIX + str(folder)


def distill_hybrid(
    teacher: HybridScorer,
    transfer_df: pd.DataFrame,
    val_df: pd.DataFrame,
    unlabeled_df: pd.DataFrame | None,
    args: Any,
    provenance: dict[str, Any],
) -> Scorer:
    """Fit a hybrid student on the teacher's labels; record agreement, validation and speed-up like any distillation."""
    from synthgrade.distill.trainer_distillation import speed_summary
    from synthgrade.evaluate.metrics import point_metrics
    from synthgrade.train.data import label_indices

    started = time.perf_counter()
    spec = args.student.strip()
    encoder = static_encoder_for(teacher.features.encoder) if spec == "static" else spec
    if spec.startswith("layers:"):
        from synthgrade.errors import SynthgradeError

        raise SynthgradeError(f"--student {spec} copies a fine-tuned network; a hybrid teacher takes static or an encoder name")
    rows = [transfer_df] + ([unlabeled_df] if unlabeled_df is not None and not unlabeled_df.empty else [])
    frame = pd.concat(rows, ignore_index=True)
    teacher_labels = teacher.predict(frame, batch_size=args.eval_batch_size)
    frame[LABEL] = teacher_labels
    student_args = TrainingArguments(
        model=f"hybrid:{encoder}",
        input=teacher.info.input_mode,
        max_length=teacher.info.max_length,
        seed=args.seed,
        labels=teacher.labels,
        ordinal=teacher.info.ordinal,
        show_progress=args.show_progress,
    )
    student = train_hybrid(frame, val_df, student_args, teacher.labels, provenance)
    labels = teacher.labels
    teacher_val = teacher.predict_proba(val_df, batch_size=args.eval_batch_size)
    student_val = student.predict_proba(val_df, batch_size=args.eval_batch_size)
    student_transfer = student.predict(frame, batch_size=args.eval_batch_size)
    teacher_params = (teacher.info.parameters or 0) + encoder_parameters(teacher.features.encoder)
    student_params = (student.info.parameters or 0) + encoder_parameters(encoder)
    summary: dict[str, Any] = {
        "student": spec,
        "student_encoder": encoder,
        "method": "hybrid student fitted on the teacher's labels",
        "transfer_rows": int(len(transfer_df)),
        "unlabeled_rows": int(len(unlabeled_df)) if unlabeled_df is not None else 0,
        "agreement_val": float((teacher_val.argmax(1) == student_val.argmax(1)).mean()),
        "agreement_transfer": float((student_transfer == teacher_labels).mean()),
        "teacher_validation": point_metrics(label_indices(val_df, labels), teacher_val, labels, ordinal=teacher.info.ordinal),
        "student_validation": student.info.training["validation"],
        "teacher_parameters": teacher_params,
        "student_parameters": student_params,
        "parameter_ratio": round(student_params / teacher_params, 4) if teacher_params else None,
    }
    summary |= speed_summary(teacher, student, val_df, args)
    student.info.training["distillation"] = summary
    student.info.training["elapsed_s"] = round(time.perf_counter() - started, 2)
    student.info.provenance = dict(student.info.provenance) | {
        "teacher": {"base_model": teacher.info.base_model, "kind": teacher.info.kind, "provenance": teacher.info.provenance}
    }
    return student
