"""``train --unlabeled``: self-training in ``train``, kept only where validation clearly prefers it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers.build import dataset

from synthgrade.data import is_synthetic
from synthgrade.errors import SynthgradeError
from synthgrade.train import Trainer, TrainingArguments
from synthgrade.train.selftrain import describe, self_train

LABELS = ["correct", "incorrect"]


class ColumnScorer:
    """A fake scorer: the probability of "correct" is the row's ``p`` column, or ``p_student`` once it has seen
    pseudo-labelled rows (so a test decides how good the self-trained model is on validation)."""

    labels = LABELS

    def __init__(self, column: str, rows: pd.DataFrame) -> None:
        self.column = column
        self.rows = rows
        self.info = SimpleNamespace(training={}, kind="fake")

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = frame[self.column].to_numpy(dtype=float)
        return np.column_stack([p, 1 - p])


def split() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows = dataset(150)
    good = (rows["label"] == "correct").to_numpy()
    rows["p"] = np.where(good, 0.95, 0.05)  # confident and right on every row
    train, val, pool = rows.iloc[:40].copy(), rows.iloc[40:100].copy(), rows.iloc[100:].drop(columns=["label"])
    val.loc[val.index[:20], "p"] = 0.5  # the human-only model is unsure on a third of the validation rows ...
    return train, val, pool


def fake_fit(student_column: str):
    fitted: list[pd.DataFrame] = []

    def fit(spec: str, rows: pd.DataFrame) -> ColumnScorer:
        fitted.append(rows)
        return ColumnScorer(student_column if is_synthetic(rows).any() else "p", rows)

    return fit, fitted


def test_the_self_trained_model_is_kept_when_validation_clearly_prefers_it():
    train, val, pool = split()
    val["p_better"] = np.where(val["label"] == "correct", 0.9, 0.1)  # ... and the self-trained model is right on all
    fit, fitted = fake_fit("p_better")
    scorer = self_train(fit, "tfidf", train, val, pool, LABELS, seed=0)
    record = scorer.info.training["self_training"]
    assert scorer.column == "p_better" and record["shipped"] is True
    assert record["rows"] == 50 and record["usable_pool"] == 50 and record["threshold"] == 0.6
    assert record["validation_gain"][1] > 0  # the whole interval above zero
    # the student saw the coded rows and the pseudo-labelled ones, flagged synthetic, with the model's labels
    student_rows = fitted[1]
    assert len(student_rows) == 90 and int(is_synthetic(student_rows).sum()) == 50
    pseudo = student_rows.loc[is_synthetic(student_rows)]
    truth = dataset(150).set_index("id")["label"]
    assert (pseudo["label"].to_numpy() == truth.loc[pseudo["id"].str.removeprefix("pseudo-")].to_numpy()).all()
    assert "self-trained model kept" in describe(record)


def test_the_human_only_model_is_kept_when_validation_cannot_tell_them_apart():
    train, val, pool = split()
    val["p_same"] = val["p"]
    fit, _ = fake_fit("p_same")
    scorer = self_train(fit, "tfidf", train, val, pool, LABELS, seed=0)
    record = scorer.info.training["self_training"]
    assert scorer.column == "p" and record["shipped"] is False
    assert record["validation_gain"][0] == 0.0 and "human-only model kept" in describe(record)


def test_nothing_confident_enough_keeps_the_human_only_model_and_says_why():
    train, val, pool = split()
    pool["p"] = 0.55  # below every threshold
    fit, fitted = fake_fit("p")
    scorer = self_train(fit, "tfidf", train, val, pool, LABELS)
    record = scorer.info.training["self_training"]
    assert len(fitted) == 1 and record["rows"] == 0 and record["shipped"] is False
    assert "no uncoded response reached the threshold" in record["reason"]


def test_a_pool_that_leaks_validation_rows_is_refused():
    train, val, pool = split()
    leaking = pd.concat([pool, val.drop(columns=["label"])])
    fit, fitted = fake_fit("p")
    with pytest.raises(SynthgradeError, match="--val"):
        self_train(fit, "tfidf", train, val, leaking, LABELS)
    assert not fitted  # refused before anything was trained


def test_trainer_self_trains_a_real_tfidf_model_and_records_it():
    rows = dataset(150)
    train, val, pool = rows.iloc[:48], rows.iloc[48:90], rows.iloc[90:].drop(columns=["label"])
    args = TrainingArguments(model="tfidf", labels=LABELS, show_progress=False)
    scorer = Trainer(args).train(train, val, unlabeled=pool)
    record = scorer.info.training["self_training"]
    assert record["usable_pool"] == 60 and record["model"] == "tfidf" and isinstance(record["shipped"], bool)
    assert record["rows"] > 0 and record["threshold"] in (0.6, 0.7, 0.8, 0.9)
    with pytest.raises(SynthgradeError, match="synthetic"):
        Trainer(args).train(pd.concat([train, train.assign(id="s" + train["id"], synthetic=True)]), val, unlabeled=pool)


def test_train_unlabeled_on_the_command_line(cli, tmp_path: Path):
    rows = dataset(150)
    human, val, pool, syn = (tmp_path / f"{name}.csv" for name in ("human", "val", "pool", "syn"))
    rows.iloc[:48].to_csv(human, index=False)
    rows.iloc[48:90].to_csv(val, index=False)
    rows.iloc[90:].drop(columns=["label"]).to_csv(pool, index=False)
    out = tmp_path / "model"
    result = cli("train", "--human", human, "--val", val, "--unlabeled", pool, "--model", "tfidf", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "self-training:" in result.stdout and "usable uncoded responses" in result.stdout
    meta = json.loads((out / "synthgrade.json").read_text())
    assert meta["training"]["self_training"]["usable_pool"] == 60
    assert meta["provenance"]["unlabeled_file"] == str(pool)
    # with synthetic rows too: one clear line, and no model written
    rows.iloc[:10].assign(id=lambda f: "s" + f["id"], synthetic=True).to_csv(syn, index=False)
    refused = tmp_path / "refused"
    result = cli("train", "--human", human, "--val", val, "--unlabeled", pool, "--synthetic", syn, "--ratio", "0.2",
                 "--model", "tfidf", "--out", refused)  # fmt: skip
    assert result.returncode != 0 and "--unlabeled" in result.stderr and not refused.exists()
    assert len([line for line in result.stderr.strip().splitlines() if line.strip()]) == 1
