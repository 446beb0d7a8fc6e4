"""What the kinds fitted without a training loop (``tfidf``, ``hybrid``) share: their inputs and out-of-fold record."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from synthgrade.data import is_synthetic, label_indices
from synthgrade.errors import SynthgradeError
from synthgrade.modeling import ModelInfo, build_inputs, choose_input_mode, item_bank_from


def prepare_inputs(
    train_df: pd.DataFrame, val_df: pd.DataFrame, args: Any, labels: list[str], kind: str, base_model: str
) -> tuple[ModelInfo, dict[str, tuple[list[str], list[str] | None]], np.ndarray, np.ndarray]:
    """The metadata, model inputs and label indices that a scorer fitted without a training loop starts from."""
    info = ModelInfo(
        kind=kind,
        labels=labels,
        input_mode=choose_input_mode(args.input, train_df),
        max_length=args.max_length,
        item_bank=item_bank_from(pd.concat([train_df[~is_synthetic(train_df)], val_df], ignore_index=True)),
        base_model=base_model,
        ordinal=args.ordinal,
    )
    inputs = {}
    for name, frame in (("train", train_df), ("val", val_df)):
        first, second, problems = build_inputs(frame, info)
        if problems:
            raise SynthgradeError(problems[0], problems)
        inputs[name] = (first, second)
    return info, inputs, label_indices(train_df, labels), label_indices(val_df, labels)


def out_of_fold_record(train_df: pd.DataFrame, predicted: np.ndarray | None, rows: Any = None) -> dict[str, Any] | None:
    """The out-of-fold predictions of the human training rows, by id (label indices), or None without folds.

    ``build`` pools them with the validation rows to compare models on more human rows than validation holds.
    """
    if predicted is None:
        return None
    human = rows.human if rows is not None else np.ones(len(train_df), dtype=bool)
    ids = train_df["id"].astype(str).to_numpy() if "id" in train_df.columns else np.arange(len(train_df)).astype(str)
    return {"ids": ids[human].tolist(), "pred": np.asarray(predicted)[human].astype(int).tolist()}
