"""The fit loop of the ``transformer`` kind: fine-tune a classifier, selecting on human validation rows.

``TransformerTrainer(args).train(scorer, train_df, val_df)`` trains ``scorer.model`` in place. It takes exactly
two tables, training rows and human-coded validation rows: it has no way to receive test data, so test rows
can never reach training, early stopping or checkpoint selection. Subclasses change what differs through
hooks (as :class:`synthgrade.distill.DistillationTrainer` does): :meth:`training_set` (the rows and their
targets), :meth:`compute_loss` and :meth:`record` (what the saved ``synthgrade.json`` holds about training).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.console import console, progress
from synthgrade.mix import training_rows
from synthgrade.scorers.training_args import TrainingArguments
from synthgrade.scorers.transformer.data import EncodedSet, bucketed_batches, encode_frame, iterate, sorted_batches
from synthgrade.scorers.transformer.network import count_parameters


class TransformerTrainer:
    """Fine-tunes the network of a transformer-kind scorer: bucketed batches, AdamW with linear warm-up and
    decay, validation checks, early stopping and the best checkpoint kept."""

    def __init__(self, args: TrainingArguments | None = None) -> None:
        self.args = args or TrainingArguments()
        self.curve: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {}
        #: Per training row (``synthetic_weight`` with synthetic rows), else None: every row counts alike.
        self.sample_weights: np.ndarray | None = None

    # -- the template ---------------------------------------------------------------------------------
    def train(self, scorer: Any, train_df: pd.DataFrame, val_df: pd.DataFrame) -> Any:
        """Train ``scorer``'s network on ``train_df``; early-stop and pick the checkpoint on ``val_df``; return ``scorer``."""
        started = time.perf_counter()
        train_set = self.training_set(scorer, train_df)
        val_set = encode_frame(val_df, scorer.info, scorer.tokenizer, scorer.labels, self.args.cache_dir)
        self.fit(scorer.model, scorer.tokenizer, train_set, val_set, scorer.labels)
        self.record(scorer, train_df, val_df, val_set, started)
        return scorer

    # -- hooks ------------------------------------------------------------------------------------------
    def training_set(self, scorer: Any, train_df: pd.DataFrame) -> EncodedSet:
        """The encoded training rows with their targets (here the hard labels, synthetic rows weighted)."""
        args = self.args
        train_set = encode_frame(train_df, scorer.info, scorer.tokenizer, scorer.labels, args.cache_dir)
        rows = training_rows(train_df, args.synthetic_weight)
        self.sample_weights = rows.weight if rows.has_synthetic and args.synthetic_weight != 1.0 else None
        return train_set

    def record(self, scorer: Any, train_df: pd.DataFrame, val_df: pd.DataFrame, val_set: EncodedSet, started: float) -> None:
        """Write the training record (arguments, curve, best check, validation metrics) into ``scorer.info``."""
        from synthgrade.metrics import point_metrics

        result = self.evaluate_split(scorer.model, val_set, scorer.tokenizer.pad_token_id or 0)
        info = scorer.info
        info.parameters = count_parameters(scorer.model)
        info.training = {
            "arguments": self.args.to_dict(),
            "curve": self.curve,
            "best": self.best,
            "validation": point_metrics(val_set.labels, result["proba"], scorer.labels, ordinal=info.ordinal),
            "elapsed_s": round(time.perf_counter() - started, 2),
        }

    def compute_loss(self, logits: Any, index: np.ndarray, train_set: EncodedSet, class_weights: Any) -> Any:
        """Cross-entropy on the hard labels (optionally class-weighted; synthetic rows weighted by ``synthetic_weight``)."""
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

    # -- the loop ---------------------------------------------------------------------------------------
    def schedule_length(self, rows: int) -> tuple[int, int]:
        """(epochs, optimiser steps): a small set gets the epochs it needs to reach ``min_steps`` updates."""
        steps_per_epoch = math.ceil(rows / self.args.batch_size)
        epochs = max(self.args.epochs, math.ceil(self.args.min_steps / max(1, steps_per_epoch)))
        return epochs, steps_per_epoch * epochs

    def create_optimizer_and_scheduler(self, model: Any, total_steps: int) -> tuple[Any, Any]:
        """AdamW (no weight decay on biases and norms) and transformers' linear warm-up then linear decay."""
        import torch
        from transformers import get_linear_schedule_with_warmup

        args = self.args
        decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim > 1]
        no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim <= 1]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
        )
        warmup = int(total_steps * args.warmup_ratio)
        return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total_steps)

    def fit(self, model: Any, tokenizer: Any, train_set: EncodedSet, val_set: EncodedSet, labels: list[str]) -> None:
        """The training loop: bucketed batches, one optimiser step each, validation checks, best checkpoint kept."""
        args = self.args
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        rng = np.random.default_rng(args.seed)
        epochs, total_steps = self.schedule_length(len(train_set))
        optimizer, scheduler = self.create_optimizer_and_scheduler(model, total_steps)
        weights = self.class_weights(train_set, len(labels))
        self.curve, self.best = [], {}
        state = LoopState()
        model.train()
        with progress(transient=not args.show_progress) as bar:
            task = bar.add_task("training", total=len(train_set) * epochs, rate="", visible=args.show_progress)
            for epoch in range(epochs):
                batches = bucketed_batches(train_set.lengths, args.batch_size, rng, args.bucket_batches)
                for batch_number, (index, batch) in enumerate(iterate(train_set, batches, pad_id), start=1):
                    self.training_step(model, batch, index, train_set, weights, optimizer, scheduler, state)
                    loss = state.running_loss / state.running_n
                    bar.update(task, advance=len(index), rate=f"{state.rate:.1f} samples/s  loss {loss:.4f}")
                    if batch_number == len(batches) or (args.eval_steps and state.step % args.eval_steps == 0):
                        self.check(model, val_set, pad_id, round(epoch + batch_number / len(batches), 4), state)
                        if state.stop:
                            break
                if state.stop:
                    if args.show_progress:
                        console.print(f"early stop: no validation gain in {args.patience} checks", highlight=False)
                    break
        if state.best_state is not None:
            model.load_state_dict(state.best_state)
        model.eval()
        self.best["train_samples_per_s"] = round(state.rate, 2) if state.train_seconds else None
        self.best["stopped_early"] = state.stop

    def training_step(
        self,
        model: Any,
        batch: dict[str, Any],
        index: np.ndarray,
        train_set: EncodedSet,
        weights: Any,
        optimizer: Any,
        scheduler: Any,
        state: LoopState,
    ) -> None:
        """One optimiser step on one batch (gradients clipped to ``max_grad_norm``)."""
        import torch

        tick = time.perf_counter()
        logits = model(**batch).logits
        loss = self.compute_loss(logits, index, train_set, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.args.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        state.train_seconds += time.perf_counter() - tick
        state.step += 1
        state.seen += len(index)
        state.running_loss += float(loss.detach()) * len(index)
        state.running_n += len(index)

    def check(self, model: Any, val_set: EncodedSet, pad_id: int, epoch: float, state: LoopState) -> None:
        """A validation check: record it on the curve, keep the weights if they are the best, decide on stopping."""
        args = self.args
        result = self.evaluate_split(model, val_set, pad_id)
        point = {
            "epoch": epoch,
            "step": state.step,
            "train_loss": state.running_loss / max(1, state.running_n),
            "val_loss": result["loss"],
            "val_accuracy": result["accuracy"],
            "val_macro_f1": result["macro_f1"],
            "samples_per_s": round(state.rate, 2),
        }
        self.curve.append(point)
        state.running_loss, state.running_n = 0.0, 0
        key = (result["macro_f1"], -result["loss"])
        if state.best_key is None or key > state.best_key:
            state.best_key, state.checks_without_gain = key, 0
            state.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self.best = dict(point)
        else:
            state.checks_without_gain += 1
        if args.show_progress:
            console.print(
                f"epoch {point['epoch']:.2f}: train loss {point['train_loss']:.4f}, "
                f"val loss {point['val_loss']:.4f}, val macro-F1 {point['val_macro_f1']:.4f}",
                highlight=False,
            )
        state.stop = bool(args.patience and state.checks_without_gain >= args.patience)


@dataclass
class LoopState:
    """Where the loop stands: steps and rows so far, the running loss since the last check, the best weights."""

    step: int = 0
    seen: int = 0
    train_seconds: float = 0.0
    running_loss: float = 0.0
    running_n: int = 0
    best_key: tuple[float, float] | None = None
    best_state: dict[str, Any] | None = None
    checks_without_gain: int = 0
    stop: bool = False

    @property
    def rate(self) -> float:
        """Training rows per second of optimiser time."""
        return self.seen / self.train_seconds if self.train_seconds else 0.0
