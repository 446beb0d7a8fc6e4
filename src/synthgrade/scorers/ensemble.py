"""The ``ensemble`` model kind: a weighted average of fitted scorers' probabilities.

``auto`` builds one from its best hybrid and the ``lexical`` model when the weight that the training rows'
out-of-fold probabilities prefer lies strictly between the two (:func:`ensemble_weight`): the encoder and
the n-grams err on different responses. The spec ``ensemble:<a>+<b>`` (what ``auto`` records as its choice,
and ``build`` retrains on its synthetic arms) fits both members and weighs them the same way. Saved as the
members' own directories under ``members/`` plus ``ensemble.json`` (their weights), so each member loads
through its own kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from synthgrade.errors import SynthgradeError
from synthgrade.io import read_json, write_json
from synthgrade.modeling import ModelInfo, Scorer, load_scorer
from synthgrade.scorers.base import Provenance, TrainableScorer
from synthgrade.scorers.training_args import TrainingArguments

KIND = "ensemble"
#: Weights of the first member tried on the out-of-fold probabilities (the second gets the rest).
WEIGHT_GRID = tuple(round(0.1 * k, 1) for k in range(11))


class EnsembleScorer(TrainableScorer):
    """Probabilities = sum of ``weights[i] * members[i]`` probabilities (members share labels and inputs)."""

    kind = KIND

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return spec.startswith(KIND + ":") and "+" in spec

    @classmethod
    def fit(
        cls, train_df: pd.DataFrame, val_df: pd.DataFrame, args: TrainingArguments, labels: list[str],
        provenance: Provenance = None,
    ) -> EnsembleScorer:  # fmt: skip
        """Fit ``ensemble:<a>+<b>``: both members on ``train_df``, then their weight on the out-of-fold probabilities."""
        from synthgrade.data import label_indices
        from synthgrade.scorers.registry import kind_for

        names = [name.strip() for name in args.model[len(KIND) + 1 :].split("+")]
        if len(names) != 2 or not all(names):
            raise SynthgradeError(
                f"model spec '{args.model}': use ensemble:<model>+<model>, e.g. ensemble:hybrid:minilm-l6+lexical"
            )
        members = [kind_for(name).fit(train_df, val_df, replace(args, model=name), labels, provenance) for name in names]
        y_val = label_indices(val_df, labels)
        scorer, _ = weighted(members, names, train_df, [m.predict_proba(val_df) for m in members], y_val, labels)
        scorer.info.provenance = provenance or {}
        return scorer

    def __init__(self, members: Sequence[Scorer], weights: Sequence[float], info: ModelInfo) -> None:
        if len(members) != len(weights) or not members:
            raise SynthgradeError("an ensemble needs one weight per member and at least one member")
        if any(member.labels != info.labels for member in members):
            raise SynthgradeError("ensemble members must share the same labels in the same order")
        self.members = list(members)
        self.weights = [float(w) for w in weights]
        self.info = info

    @classmethod
    def of(cls, members: Sequence[Scorer], weights: Sequence[float], names: Sequence[str]) -> EnsembleScorer:
        """An ensemble whose metadata (labels, input mode, item bank) is its first member's."""
        first = members[0].info
        info = first.model_copy(deep=True, update={"kind": KIND, "base_model": f"{KIND}:" + "+".join(names)})
        info.parameters = sum(int(m.info.parameters or 0) for m in members)
        info.training = {"members": list(names), "weights": [float(w) for w in weights]}
        return cls(members, weights, info)

    def predict_proba_inputs(self, first: Sequence[str], second: Sequence[str] | None, batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(first), len(self.labels)))
        for member, weight in zip(self.members, self.weights, strict=True):
            if weight:
                out += weight * member.predict_proba_inputs(first, second, batch_size)
        return out

    def save_weights(self, directory: Path) -> None:
        folders = [f"members/{number}" for number in range(len(self.members))]
        for member, folder in zip(self.members, folders, strict=True):
            member.save_pretrained(directory / folder)
        write_json(directory / "ensemble.json", {"members": folders, "weights": self.weights})

    @classmethod
    def load_weights(cls, directory: Path, info: ModelInfo) -> EnsembleScorer:
        state = read_json(directory / "ensemble.json")
        members = [load_scorer(directory / folder) for folder in state["members"]]
        return cls(members, state["weights"], info)


def weighted(
    members: Sequence[Scorer], names: Sequence[str], train_df: pd.DataFrame, val_probas: Sequence[np.ndarray],
    y_val: np.ndarray, labels: list[str],
) -> tuple[EnsembleScorer, np.ndarray]:  # fmt: skip
    """(the two members averaged with the weight their out-of-fold probabilities prefer, its validation probabilities)."""
    from synthgrade.data import is_synthetic, label_indices
    from synthgrade.metrics import point_metrics
    from synthgrade.mix import training_rows
    from synthgrade.scorers.fitting import out_of_fold_record

    tables = [getattr(member, "oof_proba", None) for member in members]
    if any(table is None for table in tables):
        raise SynthgradeError(
            f"ensemble of {' + '.join(names)}: each member needs out-of-fold probabilities (tfidf, lexical and "
            "hybrid record them; a fine-tuned transformer, or too few training rows per label, gives none)"
        )
    human = ~is_synthetic(train_df).to_numpy()
    first, second = tables
    weight, score, curve = ensemble_weight(first[human], second[human], label_indices(train_df, labels)[human])
    scorer = EnsembleScorer.of(members, [weight, 1 - weight], names)
    val_proba = weight * val_probas[0] + (1 - weight) * val_probas[1]
    scorer.info.training |= {
        "arguments": dict(members[0].info.training.get("arguments") or {}),
        "cv_macro_f1": score,
        "curve": curve,
        "oof": out_of_fold_record(train_df, (weight * first + (1 - weight) * second).argmax(axis=1), training_rows(train_df)),
        "validation": point_metrics(y_val, val_proba, labels),
    }
    return scorer, val_proba


def ensemble_weight(first: np.ndarray, second: np.ndarray, y: np.ndarray) -> tuple[float, float, list[dict[str, float]]]:
    """(weight of ``first``, macro-F1 there, curve): the :data:`WEIGHT_GRID` weight whose average of the two
    out-of-fold probability tables has the best macro-F1 on ``y`` (ties go to the weight nearest 0.5)."""
    from sklearn.metrics import f1_score

    curve = []
    for weight in WEIGHT_GRID:
        predicted = (weight * first + (1 - weight) * second).argmax(axis=1)
        curve.append({"weight": weight, "cv_macro_f1": round(float(f1_score(y, predicted, average="macro")), 4)})
    best = max(curve, key=lambda row: (row["cv_macro_f1"], -abs(row["weight"] - 0.5)))
    return best["weight"], best["cv_macro_f1"], curve
