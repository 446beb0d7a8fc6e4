"""Fine-tune an encoder for sequence classification on a (mixed) training set, selecting on human validation rows.

The trainer takes exactly two tables: training rows and human-coded validation rows. It has no way to
receive test data, so test rows can never reach training, early stopping or checkpoint selection.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.console import console, progress
from synthgrade.data import check_disjoint, check_human_validation, frame_hash, is_synthetic
from synthgrade.data.schema import LABEL, label_order
from synthgrade.errors import SynthgradeError
from synthgrade.mix import synthetic_sources, training_rows
from synthgrade.modeling import ModelInfo, Scorer, TransformerScorer, choose_input_mode, item_bank_from
from synthgrade.registry import offline_error, resolve_model
from synthgrade.train.data import (
    EncodedSet,
    bucketed_batches,
    encode_frame,
    iterate,
    sorted_batches,
)
from synthgrade.train.training_args import TrainingArguments


def set_seed(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def load_classifier(name: str, labels: list[str]) -> tuple[Any, Any]:
    """A sequence classifier with a fresh head for ``labels`` plus its tokenizer, from a name, path or hub id."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    resolved = resolve_model(name)
    if resolved.gguf_file:
        raise SynthgradeError(
            f"model '{name}' is a generator (GGUF); train needs an encoder such as minilm-l6 or bert-base-uncased"
        )
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialised classifier" is expected here
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.path)
        model = AutoModelForSequenceClassification.from_pretrained(
            resolved.path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    except OSError as exc:
        raise offline_error(name, exc) from None
    except ValueError as exc:
        raise SynthgradeError(f"model '{name}' cannot be used for sequence classification ({str(exc).splitlines()[0]})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    model.config.problem_type = "single_label_classification"
    return model, tokenizer


def count_parameters(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


class Trainer:
    """Fine-tunes a classifier: ``Trainer(args).train(train_df, val_df)`` returns a :class:`Scorer`.

    Subclasses (:class:`synthgrade.distill.DistillationTrainer`) change the loss through
    :meth:`compute_loss` and reuse the loop, batching, early stopping and checkpoint selection.
    """

    def __init__(self, args: TrainingArguments | None = None) -> None:
        self.args = args or TrainingArguments()
        self.curve: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {}
        #: Per training row (``--synthetic-weight`` with synthetic rows), else None: every row counts alike.
        self.sample_weights: np.ndarray | None = None

    # -- public entry point ---------------------------------------------------------------------------
    def train(self, train_df: pd.DataFrame, val_df: pd.DataFrame, provenance: dict[str, Any] | None = None) -> Scorer:
        """Train on ``train_df``; early-stop and pick the checkpoint on ``val_df`` (human-coded rows only)."""
        args = self.args
        check_human_validation(val_df)
        if train_df.empty:
            raise SynthgradeError("the training data has no rows")
        check_disjoint(train_df, val_df)
        labels = self.labels_for(train_df, val_df)
        if args.model == "auto":
            from synthgrade.train.auto import train_auto

            return train_auto(train_df, val_df, args, labels, provenance or {})
        if args.model == "tfidf":
            from synthgrade.baselines import train_tfidf

            return train_tfidf(train_df, val_df, args, labels, self.provenance_for(train_df, val_df, provenance))
        if args.model == "hybrid" or args.model.startswith("hybrid:"):
            from synthgrade.train.hybrid import train_hybrid

            return train_hybrid(train_df, val_df, args, labels, self.provenance_for(train_df, val_df, provenance))
        set_seed(args.seed)
        model, tokenizer = load_classifier(args.model, labels)
        info = self.model_info(train_df, val_df, labels)
        started = time.perf_counter()
        train_set = encode_frame(train_df, info, tokenizer, labels, args.cache_dir)
        val_set = encode_frame(val_df, info, tokenizer, labels, args.cache_dir)
        rows = training_rows(train_df, args.synthetic_weight)
        self.sample_weights = rows.weight if rows.has_synthetic and args.synthetic_weight != 1.0 else None
        self.fit(model, tokenizer, train_set, val_set, labels)
        scorer = TransformerScorer(model, tokenizer, info)
        self.finish_info(scorer, model, val_set, labels, started)
        info.provenance = self.provenance_for(train_df, val_df, provenance)
        return scorer

    # -- pieces subclasses reuse ----------------------------------------------------------------------
    def labels_for(self, train_df: pd.DataFrame, val_df: pd.DataFrame) -> list[str]:
        if self.args.labels:
            return list(self.args.labels)
        observed = pd.concat([train_df[LABEL], val_df[LABEL]]).dropna().astype(str).unique()
        labels = label_order(observed)
        if len(labels) < 2:
            raise SynthgradeError(f"training needs at least two labels, the data has {labels}")
        return labels

    def model_info(self, train_df: pd.DataFrame, val_df: pd.DataFrame, labels: list[str]) -> ModelInfo:
        human_rows = pd.concat([train_df[~is_synthetic(train_df)], val_df], ignore_index=True)
        return ModelInfo(
            kind="transformer",
            labels=labels,
            input_mode=choose_input_mode(self.args.input, train_df),
            max_length=self.args.max_length,
            item_bank=item_bank_from(human_rows),
            base_model=self.args.model,
            ordinal=self.args.ordinal,
        )

    def provenance_for(self, train_df: pd.DataFrame, val_df: pd.DataFrame, extra: dict[str, Any] | None) -> dict[str, Any]:
        synthetic = is_synthetic(train_df)
        provenance: dict[str, Any] = {
            "train_rows": int(len(train_df)),
            "train_human_rows": int((~synthetic).sum()),
            "train_synthetic_rows": int(synthetic.sum()),
            "train_hash": frame_hash(train_df),
            "val_rows": int(len(val_df)),
            "val_hash": frame_hash(val_df),
            "synthetic_sources": synthetic_sources(train_df),
        }
        provenance.update(extra or {})
        return provenance

    def finish_info(self, scorer: Scorer, model: Any, val_set: EncodedSet, labels: list[str], started: float) -> None:
        from synthgrade.metrics import point_metrics

        result = self.evaluate_split(model, val_set, scorer.tokenizer.pad_token_id or 0)  # type: ignore[attr-defined]
        info = scorer.info
        info.parameters = count_parameters(model)
        info.training = {
            "arguments": self.args.to_dict(),
            "curve": self.curve,
            "best": self.best,
            "validation": point_metrics(val_set.labels, result["proba"], labels, ordinal=info.ordinal),
            "elapsed_s": round(time.perf_counter() - started, 2),
        }

    def compute_loss(self, logits: Any, index: np.ndarray, train_set: EncodedSet, class_weights: Any) -> Any:
        """Cross-entropy on the hard labels (optionally class-weighted; synthetic rows weighted by ``--synthetic-weight``)."""
        import torch

        targets = torch.from_numpy(train_set.labels[index])
        if self.sample_weights is None:
            return torch.nn.functional.cross_entropy(logits, targets, weight=class_weights)
        losses = torch.nn.functional.cross_entropy(logits, targets, weight=class_weights, reduction="none")
        weights = torch.from_numpy(self.sample_weights[index]).to(losses.dtype)
        return (losses * weights).sum() / weights.sum()

    def evaluate_split(self, model: Any, encoded: EncodedSet, pad_id: int) -> dict[str, Any]:
        """Validation loss, accuracy and macro-F1 of ``model`` on ``encoded`` (the only data selection sees)."""
        import torch
        from sklearn.metrics import f1_score

        model.eval()
        proba = np.zeros((len(encoded), model.config.num_labels if hasattr(model, "config") else 0))
        with torch.inference_mode():
            for index, batch in iterate(encoded, sorted_batches(encoded.lengths, self.args.eval_batch_size), pad_id):
                logits = model(**batch).logits.float()
                if proba.shape[1] == 0:
                    proba = np.zeros((len(encoded), logits.shape[1]))
                proba[index] = torch.softmax(logits, dim=-1).numpy()
        model.train()
        labelled = encoded.labels >= 0
        y = encoded.labels[labelled]
        predicted = proba[labelled].argmax(axis=1)
        loss = float(-np.log(np.clip(proba[labelled][np.arange(len(y)), y], 1e-12, None)).mean()) if len(y) else float("nan")
        return {
            "loss": loss,
            "accuracy": float((predicted == y).mean()) if len(y) else float("nan"),
            "macro_f1": float(f1_score(y, predicted, average="macro")) if len(y) else float("nan"),
            "proba": proba,
        }

    def class_weights(self, train_set: EncodedSet, num_labels: int) -> Any:
        import torch

        if not self.args.class_weights:
            return None
        labelled = train_set.labels[train_set.labels >= 0]
        counts = np.bincount(labelled, minlength=num_labels).astype(float)
        weights = np.where(counts > 0, len(labelled) / (num_labels * np.maximum(counts, 1)), 1.0)
        return torch.tensor(weights, dtype=torch.float32)

    def fit(self, model: Any, tokenizer: Any, train_set: EncodedSet, val_set: EncodedSet, labels: list[str]) -> None:
        """The training loop: bucketed batches, AdamW + linear warm-up/decay, validation checks, best checkpoint kept."""
        import torch

        args = self.args
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        rng = np.random.default_rng(args.seed)
        lengths = train_set.lengths
        steps_per_epoch = math.ceil(len(train_set) / args.batch_size)
        # Schedule by optimiser steps: a small set gets the epochs it needs to reach min_steps updates.
        epochs = max(args.epochs, math.ceil(args.min_steps / max(1, steps_per_epoch)))
        total_steps = steps_per_epoch * epochs
        decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim > 1]
        no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim <= 1]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
        )
        warmup = int(total_steps * args.warmup_ratio)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / max(1, warmup)
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        weights = self.class_weights(train_set, len(labels))
        self.curve, self.best = [], {}
        best_state: dict[str, Any] | None = None
        best_key: tuple[float, float] | None = None
        checks_without_gain = 0
        step, seen, train_seconds = 0, 0, 0.0
        running_loss, running_n = 0.0, 0
        stop = False
        model.train()
        with progress(transient=not args.show_progress) as bar:
            task = bar.add_task("training", total=len(train_set) * epochs, rate="", visible=args.show_progress)
            for epoch in range(epochs):
                batches = bucketed_batches(lengths, args.batch_size, rng, args.bucket_batches)
                for batch_number, (index, batch) in enumerate(iterate(train_set, batches, pad_id), start=1):
                    tick = time.perf_counter()
                    logits = model(**batch).logits
                    loss = self.compute_loss(logits, index, train_set, weights)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if args.max_grad_norm:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    train_seconds += time.perf_counter() - tick
                    step += 1
                    seen += len(index)
                    running_loss += float(loss.detach()) * len(index)
                    running_n += len(index)
                    rate = seen / train_seconds if train_seconds else 0.0
                    bar.update(task, advance=len(index), rate=f"{rate:.1f} samples/s  loss {running_loss / running_n:.4f}")
                    end_of_epoch = batch_number == len(batches)
                    if end_of_epoch or (args.eval_steps and step % args.eval_steps == 0):
                        result = self.evaluate_split(model, val_set, pad_id)
                        point = {
                            "epoch": round(epoch + batch_number / len(batches), 4),
                            "step": step,
                            "train_loss": running_loss / max(1, running_n),
                            "val_loss": result["loss"],
                            "val_accuracy": result["accuracy"],
                            "val_macro_f1": result["macro_f1"],
                            "samples_per_s": round(rate, 2),
                        }
                        self.curve.append(point)
                        running_loss, running_n = 0.0, 0
                        key = (result["macro_f1"], -result["loss"])
                        if best_key is None or key > best_key:
                            best_key, checks_without_gain = key, 0
                            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                            self.best = dict(point)
                        else:
                            checks_without_gain += 1
                        if args.show_progress:
                            console.print(
                                f"epoch {point['epoch']:.2f}: train loss {point['train_loss']:.4f}, "
                                f"val loss {point['val_loss']:.4f}, val macro-F1 {point['val_macro_f1']:.4f}",
                                highlight=False,
                            )
                        if args.patience and checks_without_gain >= args.patience:
                            stop = True
                            break
                if stop:
                    if args.show_progress:
                        console.print(f"early stop: no validation gain in {args.patience} checks", highlight=False)
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        self.best["train_samples_per_s"] = round(seen / train_seconds, 2) if train_seconds else None
        self.best["stopped_early"] = stop
