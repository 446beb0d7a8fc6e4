"""``train``, ``distill`` and ``evaluate``: fit a scorer on a human + synthetic mix, compress it, measure it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape

from synthgrade.commands.options import Labels, Overwrite, column_options
from synthgrade.console import console, stdout
from synthgrade.data import ColumnMap, check_disjoint, load_responses, parse_label_list
from synthgrade.errors import ParameterError
from synthgrade.io import check_outputs, write_json
from synthgrade.modeling import new_model_directory

Seed = Annotated[int, typer.Option(help="Random seed (mixing, initialisation, batch order, bootstrap).")]


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _read_many(paths: list[Path], columns: ColumnMap, labels: list[str] | None) -> pd.DataFrame:
    frames = [load_responses(p, columns, labels) for p in paths]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


@column_options()
def train(
    human: Annotated[Path, typer.Option("--human", help="Human-coded training rows (file or SemEval XML folder).")],
    val: Annotated[Path, typer.Option("--val", help="Human-coded validation rows: early stopping and checkpoint selection.")],
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    synthetic: Annotated[list[Path] | None, typer.Option("--synthetic", help="Synthetic rows (repeatable).")] = None,
    unlabeled: Annotated[
        Path | None,
        typer.Option(
            "--unlabeled",
            help="Uncoded responses for self-training: the model retrained with its confident pseudo-labels "
            "(threshold chosen on --val) is kept only where validation clearly prefers it.",
        ),
    ] = None,
    ratio: Annotated[float, typer.Option(help="Synthetic share of the training rows, 0..1.")] = 0.0,
    mode: Annotated[str, typer.Option("--mix", help="addon: all human rows + synthetic; fixed-total: --total rows.")] = "addon",
    total: Annotated[int | None, typer.Option(help="Training rows in --mix fixed-total.")] = None,
    human_budget: Annotated[
        int | None, typer.Option("--human-budget", help="Subsample this many human rows first (stratified).")
    ] = None,
    synthetic_weight: Annotated[
        float, typer.Option("--synthetic-weight", help="Weight of a synthetic row in training relative to a human row.")
    ] = 1.0,
    model: Annotated[
        str,
        typer.Option(
            help="auto (train candidates, keep the best on --val), hybrid[:encoder], tfidf, "
            "or an encoder to fine-tune (minilm-l6, mpnet-base, a path or hub id)."
        ),
    ] = "auto",
    time_budget: Annotated[
        float, typer.Option("--time-budget", help="auto: minutes for all candidates; one that would overrun is skipped.")
    ] = 20.0,
    candidates: Annotated[
        str | None, typer.Option("--candidates", help="auto: comma-separated candidate models, cheapest first.")
    ] = None,
    input_mode: Annotated[
        str, typer.Option("--input", help="auto, response, or pair (item text + reference, response).")
    ] = "auto",
    max_length: Annotated[int, typer.Option("--max-length", help="Tokens per input (longer inputs are truncated).")] = 128,
    epochs: Annotated[int, typer.Option(help="Training epochs (early stopping may end sooner).")] = 3,
    min_steps: Annotated[
        int, typer.Option("--min-steps", help="Fine-tuning: at least this many optimiser steps (more epochs for small sets).")
    ] = 0,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, linear warm-up and decay).")] = 5e-5,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Rows per optimiser step.")] = 16,
    class_weights: Annotated[bool, typer.Option("--class-weights", help="Weight the loss by inverse label frequency.")] = False,
    patience: Annotated[int, typer.Option(help="Validation checks without gain before stopping (0 = never).")] = 2,
    eval_steps: Annotated[int | None, typer.Option("--eval-steps", help="Also validate every N steps.")] = None,
    ordinal: Annotated[bool, typer.Option("--ordinal", help="Labels are an ordered scale (enables QWK).")] = False,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Folder for cached tokenisations.")] = None,
    seed: Seed = 0,
    overwrite: Overwrite = False,
    columns: ColumnMap = ColumnMap(),
    labels: Labels = None,
) -> None:
    """Fine-tune a scorer on human rows plus synthetic rows at share --ratio; select on the human --val rows."""
    from synthgrade.mix import mix_training_set
    from synthgrade.train import Trainer, TrainingArguments

    # new_model_directory decides on replacing
    check_outputs([out], [human, val, *(synthetic or []), unlabeled], overwrite=True, directories=True)
    if unlabeled is not None and synthetic:
        raise ParameterError("unlabeled", "cannot be combined with --synthetic here; build --unlabeled judges both arms")
    if not time_budget > 0:  # checked here: the library sees seconds, and would report -1 minute as -60
        raise ParameterError("time_budget", f"must be positive (minutes), got {time_budget:g}")
    _quiet_transformers()
    declared = parse_label_list(labels)
    args = TrainingArguments(
        model=model,
        input=input_mode,
        max_length=max_length,
        epochs=epochs,
        min_steps=min_steps,
        synthetic_weight=synthetic_weight,
        time_budget=time_budget * 60,
        candidates=[c.strip() for c in candidates.split(",") if c.strip()] if candidates else None,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        class_weights=class_weights,
        patience=patience,
        eval_steps=eval_steps,
        labels=declared,
        ordinal=ordinal,
        cache_dir=cache_dir,
    )
    human_df = load_responses(human, columns, declared)
    val_df = load_responses(val, columns, declared)
    check_disjoint(human_df, val_df)  # the leakage guard: ids, then texts (a copy under other ids or none)
    synthetic_df = _read_many(list(synthetic), columns, declared) if synthetic else None
    unlabeled_df = load_responses(unlabeled, columns, None, require_label=False) if unlabeled else None
    mixed = mix_training_set(human_df, synthetic_df, ratio=ratio, mode=mode, total=total, human_budget=human_budget, seed=seed)
    manifest = mixed.manifest | {"human_file": str(human), "synthetic_files": [str(p) for p in synthetic or []]}
    console.print(
        f"training on {manifest['rows']:,} rows ({manifest['human_rows']:,} human, {manifest['synthetic_rows']:,} synthetic, "
        f"ratio {manifest['achieved_ratio']:.2f}); selecting on {len(val_df):,} human validation rows",
        highlight=False,
    )
    with new_model_directory(out, overwrite) as tmp:
        provenance = {"mix": manifest, "val_file": str(val)} | ({"unlabeled_file": str(unlabeled)} if unlabeled else {})
        scorer = Trainer(args).train(mixed.frame, val_df, provenance=provenance, unlabeled=unlabeled_df)
        scorer.save_pretrained(tmp)
        write_json(tmp / "mix_manifest.json", manifest)
    validation = scorer.info.training.get("validation", {})
    stdout.print(
        f"wrote {out}/ ({scorer.info.kind}, {scorer.info.parameters:,} parameters); validation macro-F1 "
        f"{validation.get('macro_f1', float('nan')):.4f}, accuracy {validation.get('accuracy', float('nan')):.4f}",
        highlight=False,
    )
    if "self_training" in scorer.info.training:
        from synthgrade.train.selftrain import describe

        stdout.print(describe(scorer.info.training["self_training"]), highlight=False)


@column_options()
def distill(
    teacher: Annotated[Path, typer.Option("--teacher", help="Teacher model directory.")],
    train_files: Annotated[list[Path], typer.Option("--train", help="Transfer rows: the training mix (repeatable).")],
    val: Annotated[Path, typer.Option("--val", help="Human-coded validation rows (selection only).")],
    out: Annotated[Path, typer.Option("--out", help="Student model directory to write.")],
    student: Annotated[str, typer.Option(help="layers:K, static, or an encoder name/path.")] = "layers:3",
    tau: Annotated[float, typer.Option(help="Distillation temperature.")] = 2.0,
    alpha: Annotated[float, typer.Option(help="Weight of the hard-label loss (1 - alpha goes to the KL term).")] = 0.5,
    unlabeled: Annotated[Path | None, typer.Option("--unlabeled", help="Extra unlabeled responses for the transfer set.")] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 3,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default 1e-4; 5e-3 for static).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Rows per optimiser step.")] = 16,
    max_length: Annotated[int | None, typer.Option("--max-length", help="Tokens per input (default: the teacher's).")] = None,
    patience: Annotated[int, typer.Option(help="Validation checks without gain before stopping (0 = never).")] = 2,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Folder for cached tokenisations.")] = None,
    seed: Seed = 0,
    overwrite: Overwrite = False,
    columns: ColumnMap = ColumnMap(),
) -> None:
    """Distil a teacher into a smaller, faster student (Hinton loss); records agreement, size and speed-up."""
    from synthgrade.distill import DistillationArguments, DistillationTrainer
    from synthgrade.modeling import load_scorer

    # new_model_directory decides on replacing
    check_outputs([out], [teacher, *train_files, val, unlabeled], overwrite=True, directories=True)
    _quiet_transformers()
    teacher_scorer = load_scorer(teacher)
    labels = teacher_scorer.labels
    args = DistillationArguments(
        student=student,
        tau=tau,
        alpha=alpha,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        max_length=max_length,
        patience=patience,
        seed=seed,
        cache_dir=cache_dir,
        labels=labels,
    )
    transfer_df = _read_many(list(train_files), columns, labels)
    val_df = load_responses(val, columns, labels)
    unlabeled_df = load_responses(unlabeled, columns, None, require_label=False) if unlabeled else None
    with new_model_directory(out, overwrite) as tmp:
        scorer = DistillationTrainer(teacher_scorer, args).train(
            transfer_df,
            val_df,
            unlabeled_df,
            provenance={"teacher_dir": str(teacher), "train_files": [str(p) for p in train_files]},
        )
        scorer.save_pretrained(tmp)
    summary = scorer.info.training["distillation"]
    stdout.print(
        f"wrote {out}/ ({student}: {summary['student_parameters']:,} parameters, "
        f"teacher {summary['teacher_parameters'] or 0:,}); "
        f"validation macro-F1 student {summary['student_validation']['macro_f1']:.4f} / teacher "
        f"{summary['teacher_validation']['macro_f1']:.4f}; agreement {summary['agreement_val']:.1%}"
        + (f"; {summary['speedup']}x faster" if "speedup" in summary else ""),
        highlight=False,
    )


@column_options()
def evaluate(
    model: Annotated[str, typer.Argument(help="Model directory, or an LLM grader spec such as llm:local:smollm2-135m.")],
    test: Annotated[Path, typer.Argument(help="Human-coded test rows (never used for training or selection).")],
    out: Annotated[Path, typer.Option("--out", help="Metrics JSON to write.")],
    compare: Annotated[str | None, typer.Option("--compare", help="Second model: paired bootstrap difference.")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% CIs (0 = none).")] = 1000,
    ordinal: Annotated[
        bool | None, typer.Option("--ordinal/--nominal", help="Treat labels as ordered (QWK); default: the model's.")
    ] = None,
    train_examples: Annotated[
        Path | None, typer.Option("--train", help="LLM grader only: human-coded few-shot examples.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Rows per scoring batch.")] = 64,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="Add the result to the model directory's synthgrade.json.")
    ] = True,
    seed: Seed = 0,
    overwrite: Overwrite = False,
    columns: ColumnMap = ColumnMap(),
    labels: Labels = None,
) -> None:
    """Accuracy, macro-F1, kappa, QWK, ROC-AUC, per-label P/R/F1 with bootstrap CIs on held-out human rows."""
    from synthgrade.evaluate import confusion_table, evaluate_scorer, metrics_table, record_evaluation
    from synthgrade.modeling import load_scorer

    check_outputs([out], [test, train_examples, model, compare], overwrite)  # a model directory is an input too
    _quiet_transformers()
    declared = parse_label_list(labels)
    test_df = load_responses(test, columns, declared)
    examples = load_responses(train_examples, columns, declared) if train_examples else None
    if examples is not None:
        check_disjoint(examples, test_df, names=("--train example", "test"))
    context_labels = declared or test_df.attrs.get("labels")

    def open_model(spec: str):
        return load_scorer(spec, labels=context_labels, examples=examples)

    scorer = open_model(model)
    other = open_model(compare) if compare else None
    result = evaluate_scorer(
        scorer, test_df, bootstrap=bootstrap, seed=seed, compare=other, ordinal=ordinal, batch_size=batch_size
    )
    result = {"model": model, "test": str(test), "compare": compare} | result
    for warning in result.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    write_json(out, result)
    stdout.print(metrics_table(result, title=f"{model} on {test.name} (n = {result['n']}, {bootstrap} resamples)"))
    stdout.print(confusion_table(result))
    if record and Path(model).is_dir():
        record_evaluation(model, result, test_name=str(test), compare_name=compare)
    stdout.print(f"wrote {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(distill)
    app.command()(evaluate)
