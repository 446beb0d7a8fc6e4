"""What the train stage checks and records about its two tables: guards, the label list, provenance."""

from __future__ import annotations

from typing import Any

import pandas as pd

from synthgrade.data import check_disjoint, check_human_validation, is_synthetic
from synthgrade.data.schema import LABEL, label_order
from synthgrade.errors import SynthgradeError
from synthgrade.mix import synthetic_sources


def check_training_data(
    train_df: pd.DataFrame, val_df: pd.DataFrame, unlabeled_df: pd.DataFrame | None = None, name: str = "training"
) -> None:
    """Refuse what would make selection or its figures wrong: synthetic or no validation rows, no training rows,
    a row id in both tables (``unlabeled_df``, distillation's extra rows, must not share ids with validation either)."""
    check_human_validation(val_df)
    if train_df.empty:
        raise SynthgradeError(f"the {name} data has no rows")
    # Ids only here: the text guard runs where the user's files come in (train --val, build --test, evaluate,
    # generate --exclude); library callers (sweeps, tests) may pass tables built from a small vocabulary.
    check_disjoint(train_df, val_df, by_text=False)
    if LABEL in train_df.columns and LABEL in val_df.columns:
        unseen = sorted(set(val_df[LABEL].dropna().astype(str)) - set(train_df[LABEL].dropna().astype(str)))
        if unseen:
            raise SynthgradeError(
                f"validation label(s) {', '.join(unseen)} have no {name} rows: no model can learn them; "
                "add training rows with those labels or leave them out of validation"
            )
    if unlabeled_df is not None:
        check_disjoint(unlabeled_df, val_df, names=("unlabeled", "validation"), by_text=False)


def training_labels(train_df: pd.DataFrame, val_df: pd.DataFrame, declared: list[str] | None = None) -> list[str]:
    """The declared labels, else those the two tables use (at least two), in their natural order."""
    if declared:
        return list(declared)
    observed = pd.concat([train_df[LABEL], val_df[LABEL]]).dropna().astype(str).unique()
    labels = label_order(observed)
    if len(labels) < 2:
        raise SynthgradeError(f"training needs at least two labels, the data has {labels}")
    return labels


def training_provenance(train_df: pd.DataFrame, val_df: pd.DataFrame, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Row counts and content hashes of both tables and the sources of the synthetic rows, plus ``extra``."""
    from synthgrade.data import frame_hash

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
