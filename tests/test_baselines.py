"""TF-IDF + logistic regression baseline: learns, uses per-item features, saves without pickle, loads by kind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from synthgrade.modeling import load_scorer
from synthgrade.scorers.tfidf import TfidfFeatures, TfidfScorer
from synthgrade.train import Trainer, TrainingArguments


def item_dependent(prefix: str, n: int, start: int = 0) -> pd.DataFrame:
    """The same words mean 'correct' for item A and 'incorrect' for item B: only per-item features can tell."""
    rows = []
    for i in range(start, start + n):
        item = "A" if i % 2 else "B"
        says_hot = (i // 2) % 2 == 0
        text = ("it gets hot" if says_hot else "it gets cold") + f" {['really', 'surely', 'maybe'][i % 3]}"
        correct = says_hot == (item == "A")
        rows.append(
            {
                "id": f"{prefix}{i}",
                "text": text,
                "label": "correct" if correct else "incorrect",
                "item_id": item,
                "item_text": "What happens to the metal?" if item == "A" else "What happens to the ice?",
            }
        )
    return pd.DataFrame(rows)


def test_tfidf_learns_item_specific_meaning_and_round_trips(tmp_path: Path) -> None:
    train, val, test = item_dependent("t", 80), item_dependent("v", 24, 200), item_dependent("x", 24, 400)
    scorer = Trainer(TrainingArguments(model="tfidf", show_progress=False)).train(train, val)
    assert isinstance(scorer, TfidfScorer) and scorer.info.input_mode == "pair"
    assert (scorer.predict(test) == test["label"].to_numpy()).mean() == 1.0
    assert scorer.info.training["best"]["C"] in {0.1, 0.3, 1.0, 3.0, 10.0, 30.0} and len(scorer.info.training["curve"]) == 6
    scorer.save_pretrained(tmp_path / "tfidf")
    assert {p.name for p in (tmp_path / "tfidf").iterdir()} >= {"synthgrade.json", "tfidf.json", "logistic.npz"}
    assert json.loads((tmp_path / "tfidf" / "synthgrade.json").read_text())["kind"] == "tfidf"
    again = load_scorer(tmp_path / "tfidf")
    assert np.allclose(again.predict_proba(test), scorer.predict_proba(test))
    # Only the item id is needed at scoring time.
    bare = pd.DataFrame({"text": ["it gets cold surely"], "item_id": ["B"]})
    assert again.predict(bare).tolist() == ["correct"]


def test_response_only_mode_without_items() -> None:
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(40)], "text": ["yes indeed" if i % 2 else "no way" for i in range(40)]})
    frame["label"] = ["pos" if i % 2 else "neg" for i in range(40)]
    scorer = Trainer(TrainingArguments(model="tfidf", show_progress=False, class_weights=True)).train(
        frame.iloc[:30], frame.iloc[30:]
    )
    assert scorer.info.input_mode == "response" and scorer.predict(frame.iloc[30:]).tolist() == frame["label"].iloc[30:].tolist()


def test_features_state_rebuilds_identical_vectors() -> None:
    first, second = ["ctx one", "ctx two"], ["a b c", "b c d"]
    features = TfidfFeatures(pair=True).fit(first, second)
    rebuilt = TfidfFeatures.from_state(json.loads(json.dumps(features.state())))
    assert np.allclose(features.transform(first, second).toarray(), rebuilt.transform(first, second).toarray())
