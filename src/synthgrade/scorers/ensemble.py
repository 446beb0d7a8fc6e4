"""The ``ensemble`` model kind: a weighted average of fitted scorers' probabilities.

``auto`` builds one from its best hybrid and the ``lexical`` model when the weight that the training rows'
out-of-fold probabilities prefer lies strictly between the two (:func:`ensemble_weight`): the encoder and
the n-grams err on different responses. Saved as the members' own directories under ``members/`` plus
``ensemble.json`` (their weights), so each member loads through its own kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthgrade.errors import SynthgradeError
from synthgrade.io import read_json, write_json
from synthgrade.modeling import ModelInfo, Scorer, load_scorer, reading_model_files

KIND = "ensemble"
#: Weights of the first member tried on the out-of-fold probabilities (the second gets the rest).
WEIGHT_GRID = tuple(round(0.1 * k, 1) for k in range(11))


class EnsembleScorer(Scorer):
    """Probabilities = sum of ``weights[i] * members[i]`` probabilities (members share labels and inputs)."""

    kind = KIND

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

    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        folders = []
        for number, member in enumerate(self.members):
            folders.append(f"members/{number}")
            member.save_pretrained(directory / folders[-1])
        write_json(directory / "ensemble.json", {"members": folders, "weights": self.weights})
        self.info.kind = KIND
        self.info.save(directory)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> EnsembleScorer:
        directory = Path(directory)
        info = ModelInfo.load(directory)
        with reading_model_files(directory, KIND):
            state = read_json(directory / "ensemble.json")
        members = [load_scorer(directory / folder) for folder in state["members"]]
        return cls(members, state["weights"], info)


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
