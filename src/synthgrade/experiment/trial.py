"""The real work of a sweep: making a synthetic set, and running one trial (mix, train, distil, evaluate).

Both are plain functions of a picklable spec that read their inputs from the run directory and return
a JSON-able dict, so any executor can run them. Only human rows feed prompts and training: the
human rows of a trial are its budget drawn from ``split/train``; ``val`` is used only for early
stopping and checkpoint selection, ``test`` only for the reported numbers (and, for generation, only
by the leakage guard that drops synthetic rows too close to a validation or test response).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from synthgrade.console import console
from synthgrade.data import frame_hash, is_synthetic, label_indices, write_table
from synthgrade.data.schema import LABEL
from synthgrade.errors import SynthgradeError
from synthgrade.experiment.data import human_rows, read_split
from synthgrade.experiment.plan import SyntheticSpec, TrialSpec
from synthgrade.experiment.sweep import synthetic_path
from synthgrade.io import read_json, write_json

DIAGNOSTIC_KEYS = (
    "distinct_1",
    "distinct_2",
    "mean_length_words",
    "mean_pairwise_cosine",
    "mean_pairwise_cosine_within_item_label",
    "nearest_human_similarity",
)


def diagnostics_path(run_dir: str | Path, key: str) -> Path:
    return Path(run_dir) / "synthetic" / f"{key}.diagnostics.json"


def read_synthetic(path: Path, labels: list[str]) -> pd.DataFrame:
    frame = pd.read_json(path, lines=True, dtype=False) if path.stat().st_size else pd.DataFrame(columns=["id", "text", "label"])
    for column in ("id", "text", "label", "item_id"):
        if column in frame.columns:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
            frame[column] = frame[column].map(lambda v: v if v is None else str(v))
    frame["synthetic"] = True
    frame.attrs["labels"] = labels
    return frame


def _mean_of(value: Any) -> float | None:
    """A number, or the mean of a dict's numeric values (GEN reports some diagnostics per label)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        if "mean" in value:
            return _mean_of(value["mean"])
        numbers = [v for v in (_mean_of(x) for x in value.values()) if v is not None]
        return float(np.mean(numbers)) if numbers else None
    return None


def flat_diagnostics(generation: dict[str, Any], filtering: dict[str, Any] | None) -> dict[str, float]:
    """The numbers the report plots against temperature, from the generation (and filter) summaries."""
    diagnostics = generation.get("diagnostics") or {}
    out: dict[str, float] = {}
    generated, kept = generation.get("generated"), generation.get("kept")
    if isinstance(generated, int) and generated:
        out["kept_after_cleaning_share"] = kept / generated
    for key in DIAGNOSTIC_KEYS:
        value = _mean_of(diagnostics.get(key))
        if value is not None:
            out[key] = value
    if filtering:
        rows_in = filtering.get("rows_in") or 0
        out["filter_kept_share"] = (filtering.get("kept", 0) / rows_in) if rows_in else 0.0
        out["rows"] = float(filtering.get("kept", 0))
    else:
        out["rows"] = float(kept or 0)
    return out


def _pydantic(factory: Any, settings: dict[str, Any], where: str) -> Any:
    try:
        return factory(**settings)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = ".".join(str(p) for p in error["loc"])
        raise SynthgradeError(f"{where}.{loc}: {error['msg']}") from None


def make_synthetic(spec: SyntheticSpec) -> dict[str, Any]:
    """Generate (once per generation key) and optionally filter one synthetic set into ``RUN_DIR/synthetic/``."""
    from synthgrade.generate import GenerationConfig, generate_synthetic, summary_path, write_synthetic

    run_dir = Path(spec.run_dir)
    out = synthetic_path(run_dir, spec.key)
    if out.exists() and diagnostics_path(run_dir, spec.key).exists():
        return read_json(diagnostics_path(run_dir, spec.key))
    train = read_split(run_dir, "train")
    labels = train.attrs["labels"]
    human = human_rows(train, spec.human_budget, spec.seed if spec.budget_seed is None else spec.budget_seed)
    human.attrs["labels"] = labels
    settings = dict(spec.generation)
    cache_dir = Path(settings.pop("cache_dir")) if settings.get("cache_dir") else None
    raw_path = synthetic_path(run_dir, spec.generation_key)
    if raw_path.exists() and summary_path(raw_path).exists():
        raw = read_synthetic(raw_path, labels)
        generation_summary = read_json(summary_path(raw_path))
    else:
        console.print(
            f"generating synthetic set {spec.generation_key} (temperature {spec.temperature}, seed {spec.seed}, "
            f"human budget {spec.human_budget}: {len(human)} human rows as examples)",
            highlight=False,
        )
        config = _pydantic(GenerationConfig, settings, "generation")
        val, test = read_split(run_dir, "val"), read_split(run_dir, "test")
        result = generate_synthetic(human, config, exclude=[val, test], cache_dir=cache_dir, show_progress=True)
        write_synthetic(result, raw_path)
        generation_summary = result.summary
        raw = read_synthetic(raw_path, labels)
        write_json(
            diagnostics_path(run_dir, spec.generation_key),
            {
                "key": spec.generation_key,
                "params": {**spec.params, "filter": "off"},
                "diagnostics": flat_diagnostics(generation_summary, None),
            },
        )
    if spec.filter == "off":
        return read_json(diagnostics_path(run_dir, spec.key))
    from synthgrade.filter import FilterConfig, filter_synthetic

    filter_config = _pydantic(FilterConfig, dict(spec.filter_config or {}), "filter")
    console.print(
        f"filtering synthetic set {spec.generation_key} ({len(raw)} rows, {', '.join(filter_config.method)})", highlight=False
    )
    result = filter_synthetic(raw, filter_config, human=human, cache_dir=cache_dir, show_progress=True)
    write_json(out.with_name(f"{spec.key}.filter.json"), result.summary)
    write_table(result.frame, out)
    entry = {
        "key": spec.key,
        "generation_key": spec.generation_key,
        "params": spec.params,
        "diagnostics": flat_diagnostics(generation_summary, result.summary),
    }
    write_json(diagnostics_path(run_dir, spec.key), entry)
    return entry


def _predictions(proba: np.ndarray, scorer_labels: list[str], labels: list[str]) -> list[int]:
    """Predicted label indices in the sweep's label order (for paired bootstraps in the report)."""
    return [labels.index(scorer_labels[i]) for i in proba.argmax(axis=1)]


def _evaluate(scorer: Any, test: pd.DataFrame, labels: list[str], evaluation: dict[str, Any], seed: int) -> dict[str, Any]:
    from synthgrade.metrics import evaluate_predictions

    start = time.perf_counter()
    proba = np.asarray(scorer.predict_proba(test), dtype=np.float64)
    metrics = evaluate_predictions(
        label_indices(test, scorer.labels),
        proba,
        scorer.labels,
        bootstrap=evaluation["bootstrap"],
        seed=seed,
        ordinal=scorer.info.ordinal,
    )
    metrics["test_hash"] = frame_hash(test)
    entry: dict[str, Any] = {
        "metrics": {k: v for k, v in metrics.items() if k not in {"per_label", "confusion_matrix"}},
        "per_label": metrics.get("per_label"),
        "confusion_matrix": metrics.get("confusion_matrix"),
        "predictions": _predictions(proba, scorer.labels, labels),
        "parameters": scorer.info.parameters,
        "kind": scorer.info.kind,
    }
    if evaluation.get("speed", True):
        from synthgrade.speed import measure_speed

        entry["speed"] = measure_speed(scorer, test, max_rows=evaluation["speed_rows"], single=20)
    entry["eval_seconds"] = round(time.perf_counter() - start, 3)
    return entry


def _mix(
    human: pd.DataFrame,
    synthetic: pd.DataFrame,
    ratio: float,
    mode: str,
    total: int | None,
    seed: int,
    shortfall: str,
    set_key: str | None,
) -> Any:
    """Mix at ``ratio``; with ``shortfall="shrink"`` (fixed-total) lower the total until the synthetic set suffices."""
    from synthgrade.mix import mix_training_set

    try:
        return mix_training_set(human, synthetic, ratio, mode=mode, total=total, seed=seed)
    except SynthgradeError as exc:
        if shortfall != "shrink" or total is None or "not enough synthetic rows" not in str(exc):
            raise SynthgradeError(f"synthetic set {set_key}: {exc}") from None
        first_error = str(exc)
    # The largest total whose synthetic part the set can supply (label by label), searched downwards.
    start = min(total - 1, int(len(synthetic) / ratio) if ratio > 0 else total - 1)
    for smaller in range(start, 0, -1):
        try:
            mixed = mix_training_set(human, synthetic, ratio, mode=mode, total=smaller, seed=seed)
        except SynthgradeError:
            continue
        if mixed.manifest.get("synthetic_rows", 0) == 0 and ratio > 0:
            break
        mixed.manifest["shrunk_from_total"] = total
        console.print(
            f"[yellow]note:[/yellow] synthetic set {set_key} is short for {ratio:.0%} of {total} rows; "
            f"trained on {smaller} rows instead (share kept)",
            highlight=False,
        )
        return mixed
    raise SynthgradeError(f"synthetic set {set_key}: {first_error}")


def run_trial(spec: TrialSpec) -> dict[str, Any]:
    """One trial: budgeted human rows + synthetic set -> mix -> teacher -> students -> test metrics."""
    from synthgrade.distill import DistillationArguments, DistillationTrainer
    from synthgrade.mix import mix_training_set
    from synthgrade.train import Trainer, TrainingArguments

    started = time.perf_counter()
    config, params = spec.config, spec.params
    run_dir = Path(spec.run_dir)
    seed = int(params["seed"])
    train, val, test = (read_split(run_dir, name) for name in ("train", "val", "test"))
    labels = list(train.attrs["labels"])
    budget_seed = config.get("budget_seed")
    human = human_rows(train, params["human_budget"], seed if budget_seed is None else int(budget_seed))
    human.attrs["labels"] = labels
    ratio = float(params["ratio"])
    if spec.synthetic_key:
        synthetic = read_synthetic(synthetic_path(run_dir, spec.synthetic_key), labels)
        mode = config["mix"]["mode"]
        total = config["mix"]["total"] or (len(human) if mode == "fixed-total" else None)
        mixed = _mix(human, synthetic, ratio, mode, total, seed, config["mix"].get("shortfall", "error"), spec.synthetic_key)
    else:
        mixed = mix_training_set(human, None, 0.0, seed=seed)
    train_rows = mixed.frame
    train_rows.attrs["labels"] = labels
    is_syn = is_synthetic(train_rows)
    counts = {
        "human": int((~is_syn).sum()),
        "synthetic": int(is_syn.sum()),
        "train": len(train_rows),
        "val": len(val),
        "test": len(test),
        "synthetic_label_counts": train_rows.loc[is_syn, LABEL].astype(str).value_counts().to_dict(),
        "shrunk_from_total": mixed.manifest.get("shrunk_from_total"),
    }

    teacher_cfg = dict(config["teacher"])
    options = teacher_cfg.pop("options", {}) or {}
    args = TrainingArguments(
        model=teacher_cfg["model"],
        input=teacher_cfg["input"],
        max_length=teacher_cfg["max_length"],
        epochs=teacher_cfg["epochs"],
        lr=teacher_cfg["lr"],
        batch_size=teacher_cfg["batch_size"],
        patience=teacher_cfg["patience"],
        seed=seed,
        labels=labels,
        **options,
    )
    provenance = {"sweep_trial": spec.key, "synthetic_set": spec.synthetic_key, "mix": mixed.manifest}
    t0 = time.perf_counter()
    teacher = Trainer(args).train(train_rows, val, provenance=provenance)
    teacher_seconds = time.perf_counter() - t0
    evaluation = config["evaluation"]
    teacher_entry = {
        "model": teacher_cfg["model"],
        "train_seconds": round(teacher_seconds, 3),
        **_evaluate(teacher, test, labels, evaluation, seed),
    }
    teacher_entry["validation"] = (teacher.info.training or {}).get("validation") or (teacher.info.training or {}).get("best")
    models_dir = run_dir / "models" / spec.key if config.get("keep_models") else None
    if models_dir is not None:
        teacher.save_pretrained(models_dir / "teacher")

    students = []
    for student_cfg in config["students"]:
        student_cfg = dict(student_cfg)
        options = student_cfg.pop("options", {}) or {}
        name = student_cfg.get("name") or student_cfg["model"]
        transfer = train_rows if student_cfg["transfer"] == "mixed" else human
        d_args = DistillationArguments(
            student=student_cfg["model"],
            epochs=student_cfg["epochs"],
            batch_size=student_cfg["batch_size"],
            lr=student_cfg["lr"],
            seed=seed,
            labels=labels,
            speed_rows=0,
            **options,
        )
        t0 = time.perf_counter()
        student = DistillationTrainer(teacher, d_args).train(
            transfer, val, provenance={**provenance, "teacher": teacher_cfg["model"]}
        )
        seconds = time.perf_counter() - t0
        entry = {
            "name": name,
            "model": student_cfg["model"],
            "train_seconds": round(seconds, 3),
            **_evaluate(student, test, labels, evaluation, seed),
        }
        entry["agreement_with_teacher"] = float(
            np.mean(np.asarray(entry["predictions"]) == np.asarray(teacher_entry["predictions"]))
        )
        students.append(entry)
        if models_dir is not None:
            student.save_pretrained(models_dir / f"student-{name.replace(':', '-')}")
    return {
        "status": "ok",
        "labels": labels,
        "counts": counts,
        "teacher": teacher_entry,
        "students": students,
        "timings": {"total_s": round(time.perf_counter() - started, 3), "teacher_train_s": round(teacher_seconds, 3)},
    }
