"""Fine-tuning: learning on a separable toy set, early stopping, saved metadata, and test-split isolation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthgrade.errors import SynthgradeError
from synthgrade.mix import mix_training_set
from synthgrade.modeling import load_scorer
from synthgrade.scorers.transformer import TransformerTrainer
from synthgrade.scorers.transformer import data as train_data
from synthgrade.scorers.transformer import trainer as trainer_module
from synthgrade.train import Trainer, TrainingArguments

POSITIVE = ["good great fine", "great good nice", "nice fine good", "fine great nice"]
NEGATIVE = ["bad awful poor", "awful poor wrong", "wrong bad awful", "poor wrong bad"]


def toy(prefix: str, n: int, start: int = 0) -> pd.DataFrame:
    """Separable responses to two items: the label depends only on the words used."""
    rows = []
    for i in range(start, start + n):
        positive = i % 2 == 0
        rows.append(
            {
                "id": f"{prefix}{i}",
                "text": (POSITIVE if positive else NEGATIVE)[i % 4] + f" case {i % 5}",
                "label": "yes" if positive else "no",
                "item_id": "q1" if i % 3 else "q2",
                "item_text": "Is it good?" if i % 3 else "Is it fine?",
                "reference": "It is good.",
            }
        )
    return pd.DataFrame(rows)


def fast_args(encoder: Path, **overrides) -> TrainingArguments:
    settings = {
        "model": str(encoder),
        "epochs": 6,
        "lr": 3e-3,
        "batch_size": 8,
        "patience": 0,
        "show_progress": False,
        "max_length": 32,
    }
    settings.update(overrides)
    return TrainingArguments(**settings)


@pytest.fixture(scope="module")
def trained(tiny_encoder: Path):
    train, val = toy("t", 80), toy("v", 24, start=1000)
    scorer = Trainer(fast_args(tiny_encoder)).train(train, val)
    return scorer, train, val


def test_loss_falls_and_separable_set_is_learned(trained) -> None:
    scorer, _, _ = trained
    curve = scorer.info.training["curve"]
    assert len(curve) == 6
    assert curve[-1]["train_loss"] < curve[0]["train_loss"] * 0.5
    assert curve[-1]["val_loss"] < curve[0]["val_loss"]
    unseen = toy("u", 20, start=5000)
    predicted = scorer.predict(unseen)
    assert (predicted == unseen["label"].to_numpy()).mean() >= 0.95
    assert scorer.info.training["validation"]["macro_f1"] >= 0.95


def test_saved_directory_records_everything(trained, tmp_path: Path) -> None:
    scorer, train, _ = trained
    scorer.save_pretrained(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "synthgrade.json").read_text())
    assert meta["kind"] == "transformer" and meta["labels"] == ["no", "yes"] and meta["input_mode"] == "pair"
    assert set(meta["item_bank"]) == {"q1", "q2"} and meta["item_bank"]["q2"]["item_text"] == "Is it fine?"
    assert meta["parameters"] > 0 and meta["training"]["curve"] and meta["training"]["best"]["epoch"] > 0
    assert meta["training"]["arguments"]["lr"] == 3e-3 and meta["provenance"]["train_rows"] == len(train)
    again = load_scorer(tmp_path / "model")
    # Scoring needs only the item id and the response: the item bank supplies the rest.
    bare = pd.DataFrame({"text": ["good great fine case 1"], "item_id": ["q2"]})
    assert again.predict(bare).tolist() == ["yes"]


def test_mix_manifest_and_synthetic_sources_reach_provenance(tiny_encoder: Path) -> None:
    human = toy("h", 24)
    synthetic = toy("s", 24, start=200).assign(synthetic=True, backend="local", model="smollm2-135m", temperature=0.3)
    mixed = mix_training_set(human, synthetic, ratio=0.5, seed=0)
    scorer = Trainer(fast_args(tiny_encoder, epochs=1)).train(
        mixed.frame, toy("v", 8, start=900), provenance={"mix": mixed.manifest}
    )
    provenance = scorer.info.provenance
    assert provenance["mix"]["synthetic_ids"] == mixed.manifest["synthetic_ids"]
    assert provenance["train_synthetic_rows"] == 24
    assert provenance["synthetic_sources"] == [
        {"backend": "local", "model": "smollm2-135m", "temperature": 0.3, "rows": 24, "filtered": False}
    ]
    # The item bank is built from human rows only.
    assert set(scorer.info.item_bank) == {"q1", "q2"}


def test_trainer_api_cannot_take_test_data(tmp_path: Path, monkeypatch) -> None:
    """No argument takes test rows, and training opens no file at all: a test file named in the provenance
    (as ``train --val`` records its file) is never read."""
    import builtins
    import io

    train, val, test = toy("t", 24), toy("v", 8, start=100), toy("x", 8, start=200)
    test_file = tmp_path / "test.csv"
    test.to_csv(test_file, index=False)
    args = TrainingArguments(model="tfidf", show_progress=False)
    with pytest.raises(TypeError):
        Trainer(args).train(train, val, test_df=test)  # type: ignore[call-arg]
    opened: list[str] = []
    real_open = builtins.open

    def spy_open(file, *a, **k):
        opened.append(str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    scorer = Trainer(args).train(train, val, provenance={"test_file": str(test_file)})
    assert not [path for path in opened if "test.csv" in path]
    pd.read_csv(tmp_path / "test.csv")  # the spy does see a table being read
    monkeypatch.undo()
    assert [path for path in opened if "test.csv" in path]
    assert scorer.info.provenance["train_rows"] == len(train) and scorer.info.provenance["val_rows"] == len(val)
    assert set(scorer.info.item_bank) == {"q1", "q2"}


def test_validation_must_be_human(tiny_encoder: Path) -> None:
    trainer = Trainer(fast_args(tiny_encoder, epochs=1))
    with pytest.raises(SynthgradeError, match="validation data contains 24 synthetic rows"):
        trainer.train(toy("t", 16), toy("v", 24).assign(synthetic=True))
    generated = toy("v", 4).assign(prompt_hash=["", "abc", None, ""])
    with pytest.raises(SynthgradeError, match="1 synthetic rows"):
        trainer.train(toy("t", 16), generated)
    with pytest.raises(SynthgradeError, match="both the training and validation"):
        trainer.train(toy("t", 16), toy("t", 4))


def test_test_rows_never_reach_training_or_selection(tiny_encoder: Path, monkeypatch) -> None:
    """Spy on every tokenised row and on every selection check: only train/val ids, never test ids."""
    train, val, test = toy("train-", 32), toy("val-", 12, start=100), toy("test-", 12, start=200)
    encoded_ids: list[str] = []
    selection_ids: list[list[str]] = []
    real_encode, real_evaluate = train_data.encode_frame, TransformerTrainer.evaluate_split

    def spy_encode(frame, *args, **kwargs):
        encoded_ids.extend(frame["id"].tolist())
        return real_encode(frame, *args, **kwargs)

    def spy_evaluate(self, model, encoded, pad_id):
        selection_ids.append(list(encoded.ids))
        return real_evaluate(self, model, encoded, pad_id)

    monkeypatch.setattr(trainer_module, "encode_frame", spy_encode)
    monkeypatch.setattr(TransformerTrainer, "evaluate_split", spy_evaluate)
    Trainer(fast_args(tiny_encoder, epochs=3, eval_steps=2)).train(train, val)
    assert set(encoded_ids) == set(train["id"]) | set(val["id"])
    assert len(selection_ids) >= 3 and all(ids_ and set(ids_) == set(val["id"]) for ids_ in selection_ids)
    assert not set(encoded_ids) & set(test["id"])


def test_early_stopping_restores_the_best_checkpoint(tiny_encoder: Path, monkeypatch) -> None:
    """Scripted validation scores that only get worse: training stops after `patience` checks, first weights kept."""
    scripted = iter([0.8, 0.6, 0.5, 0.4, 0.3, 0.2])
    snapshots: list[dict] = []
    real_evaluate = TransformerTrainer.evaluate_split

    def scripted_evaluate(self, model, encoded, pad_id):
        result = real_evaluate(self, model, encoded, pad_id)
        if len(snapshots) < 6:  # the summary call after training also passes here; it reads only the probabilities
            snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
            result["macro_f1"] = next(scripted)
        return result

    monkeypatch.setattr(TransformerTrainer, "evaluate_split", scripted_evaluate)
    scorer = Trainer(fast_args(tiny_encoder, epochs=6, patience=2)).train(toy("t", 16), toy("v", 8, start=100))
    curve, best = scorer.info.training["curve"], scorer.info.training["best"]
    assert len(curve) == 3 and best["stopped_early"] and best["epoch"] == 1.0
    assert [p["val_macro_f1"] for p in curve] == [0.8, 0.6, 0.5]
    final = scorer.model.state_dict()
    assert all((final[k] == v).all() for k, v in snapshots[0].items())
    assert any((final[k] != v).any() for k, v in snapshots[2].items())


def test_class_weights_are_inverse_frequency(tiny_encoder: Path) -> None:
    encoded = train_data.EncodedSet(["a", "b", "c", "d"], [np.array([1])] * 4, None, np.array([0, 0, 0, 1]))
    weights = TransformerTrainer(fast_args(tiny_encoder, class_weights=True)).class_weights(encoded, 2)
    assert weights.tolist() == pytest.approx([4 / 6, 2.0])
    assert TransformerTrainer(fast_args(tiny_encoder)).class_weights(encoded, 2) is None


def test_bucketed_batches_cover_every_row_once_and_group_lengths() -> None:
    lengths = np.random.default_rng(0).integers(3, 60, size=203)
    batches = train_data.bucketed_batches(lengths, 8, np.random.default_rng(1), bucket_batches=5)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(203))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    random_spread = np.mean([lengths[b].max() - lengths[b].min() for b in np.array_split(np.arange(203), 26)])
    assert spread < random_spread / 2
    again = train_data.bucketed_batches(lengths, 8, np.random.default_rng(1), bucket_batches=5)
    assert all((a == b).all() for a, b in zip(batches, again, strict=True))


def test_tokenisation_is_cached_on_disk(tiny_encoder: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)
    texts = ["one two three", "four"]
    ids, types = train_data.tokenize(tokenizer, texts, ["a b", "c"], 16, tmp_path)
    assert len(list(tmp_path.glob("tokens-*.npz"))) == 1
    train_data._MEMORY_CACHE.clear()
    again, again_types = train_data.tokenize(tokenizer, texts, ["a b", "c"], 16, tmp_path)
    assert all((a == b).all() for a, b in zip(ids, again, strict=True))
    assert types is not None and again_types is not None and (types[0] == again_types[0]).all()


def test_bad_arguments_and_unknown_labels(tiny_encoder: Path) -> None:
    with pytest.raises(SynthgradeError, match="input must be auto, response or pair"):
        TrainingArguments(input="both")
    with pytest.raises(SynthgradeError, match="epochs must be at least 1"):
        TrainingArguments(epochs=0)
    trainer = Trainer(fast_args(tiny_encoder, labels=["yes", "no"]))
    bad = toy("t", 8).assign(label="maybe")
    with pytest.raises(SynthgradeError, match="label 'maybe' is not one of"):
        trainer.train(bad, toy("v", 4, start=50).assign(label="maybe"))
    with pytest.raises(SynthgradeError, match="validation label"):  # labels the training rows lack are refused
        trainer.train(toy("t", 8).assign(label="yes"), toy("v", 4, start=50))
    with pytest.raises(SynthgradeError, match="is a generator"):
        Trainer(fast_args(tiny_encoder, model="smollm2-135m")).train(toy("t", 8), toy("v", 4, start=50))
