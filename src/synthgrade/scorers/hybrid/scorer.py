"""The hybrid scorer: :class:`~synthgrade.scorers.hybrid.features.HybridFeatures` and two logistic heads."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.io import read_json, write_json
from synthgrade.mix import training_rows
from synthgrade.modeling import ModelInfo
from synthgrade.models import REGISTRY, resolve_model
from synthgrade.scorers import cv
from synthgrade.scorers.base import Provenance, TrainableScorer
from synthgrade.scorers.fitting import logistic_arrays, logistic_from_arrays, out_of_fold_record, prepare_inputs
from synthgrade.scorers.hybrid.features import HybridFeatures
from synthgrade.scorers.hybrid.spec import KIND, logistic, parse_spec, split_encoder
from synthgrade.scorers.training_args import TrainingArguments

#: The heads' regularisation grid (chosen per head by cross-validation on the training rows).
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


class HybridScorer(TrainableScorer):
    """Frozen-encoder + lexical features with a ``seen``-item and an ``unseen``-item logistic regression head."""

    kind = KIND

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return spec == KIND or spec.startswith(KIND + ":")

    def __init__(self, features: HybridFeatures, heads: dict[str, Any], info: ModelInfo) -> None:
        self.features = features
        self.heads = heads
        self.info = info
        self.oof_proba: np.ndarray | None = None  # set by fit, never saved

    def predict_proba_inputs(self, first: Sequence[str], second: Sequence[str] | None, batch_size: int = 64) -> np.ndarray:
        seen_matrix, unseen_matrix = self.features.matrices(self.features.blocks(first, second))
        seen = self.features.seen(first, second)
        out = cv.label_proba(self.heads["unseen"], unseen_matrix, len(self.labels))
        if seen.any():
            out[seen] = cv.label_proba(self.heads["seen"], seen_matrix[np.flatnonzero(seen)], len(self.labels))
        return out

    def save_weights(self, directory: Path) -> None:
        prefix, name = split_encoder(self.features.encoder)
        source = Path(name).expanduser()
        encoder = self.features.encoder
        if name not in REGISTRY and source.is_dir():
            # A local encoder folder travels with the model; registry names are installed by make setup.
            if source.resolve() != (directory / "encoder").resolve():
                shutil.copytree(source, directory / "encoder", dirs_exist_ok=True)
            encoder = prefix + "encoder"
        state = self.features.state() | {"encoder": encoder}
        write_json(directory / "hybrid.json", state)
        arrays = self.features.arrays()
        for name, head in self.heads.items():
            arrays |= logistic_arrays(head, f"{name}_")
        np.savez(directory / "hybrid.npz", **arrays)

    @classmethod
    def load_weights(cls, directory: Path, info: ModelInfo) -> HybridScorer:
        state = read_json(directory / "hybrid.json")
        prefix, name = split_encoder(state["encoder"])
        encoder = prefix + str(directory / "encoder") if name == "encoder" else state["encoder"]
        with np.load(directory / "hybrid.npz", allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        features = HybridFeatures.from_state(state, arrays, encoder)
        heads = {name: logistic_from_arrays(arrays, f"{name}_") for name in ("seen", "unseen")}
        return cls(features, heads, info)

    @classmethod
    def fit(
        cls, train_df: pd.DataFrame, val_df: pd.DataFrame, args: TrainingArguments, labels: list[str],
        provenance: Provenance = None, projection: np.ndarray | None = None,
    ) -> HybridScorer:  # fmt: skip
        """Fit the hybrid scorer on ``train_df`` (C by cross-validation there); report on ``val_df`` (human rows).

        ``projection`` (encoder dims x target dims) maps the encoder's vectors before every feature is computed."""
        from synthgrade.metrics import point_metrics

        started = time.perf_counter()
        encoder = parse_spec(args.model)
        if not split_encoder(encoder)[0]:
            resolve_model(encoder)  # a missing or corrupt encoder package fails here, with its one-line error
        info, inputs, y_train, y_val = prepare_inputs(train_df, val_df, args, labels, KIND, f"{KIND}:{encoder}")
        features = HybridFeatures(encoder, info.input_mode == "pair", len(labels), args.max_length)
        rows = training_rows(train_df, getattr(args, "synthetic_weight", 1.0))
        rows = rows if rows.has_synthetic else None
        features.projection = projection
        features.fit(*inputs["train"], y_train, seed=args.seed, rows=rows)
        train_blocks = features.blocks(*inputs["train"], training=True)
        features.fit_scale(train_blocks)
        seen_matrix, unseen_matrix = features.matrices(train_blocks)
        class_weight = "balanced" if args.class_weights else None
        items = features.bank_items if features.pair else None
        choices = {
            name: cv.cross_validated_choice(
                logistic(class_weight), {"C": C_GRID}, matrix, y_train, args.seed, rows, len(labels), groups
            )
            for name, matrix, groups in (("seen", seen_matrix, None), ("unseen", unseen_matrix, items))
        }
        heads = {name: choice.model for name, choice in choices.items()}
        scorer = cls(features, heads, info)
        # The seen head's out-of-fold probabilities of the training rows (in memory only): auto weighs ensembles on them.
        scorer.oof_proba = choices["seen"].oof_proba
        proba = scorer.predict_proba_inputs(*inputs["val"]) if len(y_val) else np.zeros((0, len(labels)))
        info.parameters = int(sum(h.coef_.size + h.intercept_.size for h in heads.values()))
        item_curve = features.item_chars.curve if features.item_chars is not None else []
        info.training = {
            "arguments": args.to_dict(),
            "encoder": encoder,
            "curve": {name: choice.curve for name, choice in choices.items()}
            | {"lexical": features.lexical_curve, "item_chars": item_curve},
            "cv_macro_f1": choices["seen"].score,
            "cv_macro_f1_unseen_head": choices["unseen"].score,
            "best": {name: {"C": float(head.C)} for name, head in heads.items()},
            "oof": out_of_fold_record(train_df, choices["seen"].oof_pred, rows),
            "validation": point_metrics(y_val, proba, labels, ordinal=info.ordinal),
            "elapsed_s": round(time.perf_counter() - started, 2),
        }
        info.provenance = provenance or {}
        return scorer
