"""Students of a hybrid teacher: the same hybrid design over a cheaper encoder, fitted to the teacher's labels.

A hybrid teacher has no network to shrink (its encoder is frozen), so its student keeps the lexical and
neighbour features and swaps the encoder: ``static`` is a model2vec static encoder distilled from the
teacher's own encoder (one vector per token: no transformer layers at scoring time); any encoder name
(``minilm-l6``) gives a hybrid over that encoder. The student is fitted on the teacher's predicted labels
for the transfer rows plus any unlabeled rows (the teacher labels what humans did not), and selected and
reported on the human validation rows only, as every scorer is.

A ``static`` student also learns a linear map from its static vectors into the teacher encoder's embedding
space (ridge regression on the transfer responses and the items' wording and reference answers, the
penalty chosen by 5-fold cross-validation on those texts). Every feature is then computed from the mapped
vectors, so the student's similarities track the teacher's more closely than raw static vectors do: that
is where a static student lost most against a teacher trained on few labels, on items it never saw.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.console import console
from synthgrade.data.schema import LABEL
from synthgrade.distill.summary import speed_summary
from synthgrade.embed import STATIC_PREFIX, distill_static, encoder_parameters
from synthgrade.errors import ParameterError
from synthgrade.io import stable_hash
from synthgrade.modeling import Scorer
from synthgrade.models import REGISTRY, model_cache_dir
from synthgrade.scorers import TrainingArguments
from synthgrade.scorers.hybrid import HybridFeatures, HybridScorer, context_parts, split_encoder


def static_encoder_for(encoder: str) -> str:
    """``static:<folder>`` distilled from ``encoder``, made once per encoder in the model cache."""
    _, name = split_encoder(encoder)
    key = name if name in REGISTRY else "path-" + stable_hash(name, 12)
    folder = model_cache_dir() / "static" / key
    if not (folder / "config.json").exists():
        console.print(f"distilling a static encoder from {name} (once; cached in {folder})", highlight=False)
        distill_static(name, folder)
    return STATIC_PREFIX + str(folder)


#: Ridge penalties tried for the static -> teacher map (rows are unit vectors, so X'X has trace = rows).
PROJECTION_PENALTIES = (0.01, 0.1, 1.0, 10.0)
#: Map static students into the teacher's space (off only to measure what it adds: benchmarks/training/probe_students.py).
PROJECT_STATIC = True


def fit_projection(encoder: str, teacher: HybridFeatures, texts: list[str], seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Ridge map from ``encoder``'s vectors to the teacher's, penalty by 5-fold mean cosine; (map, record)."""
    from sklearn.model_selection import KFold

    from synthgrade.embed import embed_texts

    texts = sorted(set(texts))
    source = embed_texts(texts, model=encoder, max_length=teacher.max_length).astype(np.float64)
    target = teacher.embed(texts).astype(np.float64)

    def solve(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
        return np.linalg.solve(x.T @ x + penalty * np.eye(x.shape[1]), x.T @ y)

    def mean_cosine(x: np.ndarray, y: np.ndarray, mapping: np.ndarray) -> float:
        mapped = x @ mapping
        mapped /= np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-9)
        return float((mapped * y).sum(axis=1).mean())

    scores = {}
    folds = list(KFold(5, shuffle=True, random_state=seed).split(source)) if len(texts) >= 10 else []
    for penalty in PROJECTION_PENALTIES:
        scores[penalty] = (
            float(np.mean([mean_cosine(source[b], target[b], solve(source[a], target[a], penalty)) for a, b in folds]))
            if folds
            else 0.0
        )
    best = max(PROJECTION_PENALTIES, key=lambda p: (scores[p], p))
    record = {"texts": len(texts), "penalty": best, "cv_mean_cosine": {str(p): round(v, 4) for p, v in scores.items()}}
    return solve(source, target, best).astype(np.float32), record


def distill_hybrid(
    teacher: HybridScorer,
    transfer_df: pd.DataFrame,
    val_df: pd.DataFrame,
    unlabeled_df: pd.DataFrame | None,
    args: Any,
    provenance: dict[str, Any],
) -> Scorer:
    """Fit a hybrid student on the teacher's labels; record agreement, validation and speed-up like any distillation."""
    started = time.perf_counter()
    spec = args.student.strip()
    if spec.startswith("layers:"):
        raise ParameterError("student", f"{spec} copies a fine-tuned network; a hybrid teacher takes static or an encoder name")
    encoder = static_encoder_for(teacher.features.encoder) if spec == "static" else spec
    rows = [transfer_df] + ([unlabeled_df] if unlabeled_df is not None and not unlabeled_df.empty else [])
    frame = pd.concat(rows, ignore_index=True)
    frame[LABEL] = teacher.predict(frame, batch_size=args.eval_batch_size)
    student_args = TrainingArguments(
        model=f"hybrid:{encoder}",
        input=teacher.info.input_mode,
        max_length=teacher.info.max_length,
        seed=args.seed,
        labels=teacher.labels,
        ordinal=teacher.info.ordinal,
        show_progress=args.show_progress,
    )
    projection, projection_record = None, None
    if spec == "static" and PROJECT_STATIC:
        projection, projection_record = fit_projection(encoder, teacher.features, projection_texts(frame, teacher), args.seed)
    student = HybridScorer.fit(frame, val_df, student_args, teacher.labels, provenance, projection=projection)
    summary = {
        "student": spec,
        "student_encoder": encoder,
        "method": "hybrid student fitted on the teacher's labels"
        + (", static vectors mapped into the teacher's embedding space" if projection is not None else ""),
        "projection": projection_record,
        "transfer_rows": int(len(transfer_df)),
        "unlabeled_rows": int(len(unlabeled_df)) if unlabeled_df is not None else 0,
    }
    summary |= agreement_and_sizes(teacher, student, frame, val_df, args)
    summary |= speed_summary(teacher, student, val_df, args)
    student.info.training["distillation"] = summary
    student.info.training["elapsed_s"] = round(time.perf_counter() - started, 2)
    student.info.provenance = dict(student.info.provenance) | {
        "teacher": {"base_model": teacher.info.base_model, "kind": teacher.info.kind, "provenance": teacher.info.provenance}
    }
    return student


def projection_texts(frame: pd.DataFrame, teacher: HybridScorer) -> list[str]:
    """The texts a static student's map is fitted on: the responses and the items' wording and reference answers."""
    from synthgrade.modeling import build_inputs

    contexts, responses, _ = build_inputs(frame, teacher.info)
    texts = list(responses if responses is not None else contexts)
    if responses is not None:
        texts += [part for context in set(contexts) for part in context_parts(context)]
    return texts


def agreement_and_sizes(
    teacher: HybridScorer, student: HybridScorer, frame: pd.DataFrame, val_df: pd.DataFrame, args: Any
) -> dict[str, Any]:
    """How often the student agrees with the teacher (validation, and the teacher-labelled transfer ``frame``),
    both validation records, and the parameters of each (their encoders included)."""
    from synthgrade.data import label_indices
    from synthgrade.metrics import point_metrics

    labels = teacher.labels
    teacher_val = teacher.predict_proba(val_df, batch_size=args.eval_batch_size)
    student_val = student.predict_proba(val_df, batch_size=args.eval_batch_size)
    student_transfer = student.predict(frame, batch_size=args.eval_batch_size)
    teacher_params = (teacher.info.parameters or 0) + encoder_parameters(teacher.features.encoder)
    student_params = (student.info.parameters or 0) + encoder_parameters(student.features.encoder)
    return {
        "agreement_val": float((teacher_val.argmax(1) == student_val.argmax(1)).mean()),
        "agreement_transfer": float((student_transfer == frame[LABEL].to_numpy()).mean()),
        "teacher_validation": point_metrics(label_indices(val_df, labels), teacher_val, labels, ordinal=teacher.info.ordinal),
        "student_validation": student.info.training["validation"],
        "teacher_parameters": teacher_params,
        "student_parameters": student_params,
        "parameter_ratio": round(student_params / teacher_params, 4) if teacher_params else None,
    }
