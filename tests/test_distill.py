"""Distillation: layer-dropped and static students learn to agree with the teacher; save/load; loss and specs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthgrade.distill import DistillationArguments, DistillationTrainer, StaticScorer, kept_layers
from synthgrade.distill.trainer_distillation import concat_sets
from synthgrade.errors import SynthgradeError
from synthgrade.modeling import load_scorer
from synthgrade.scorers.transformer import TransformerScorer
from synthgrade.scorers.transformer.data import EncodedSet
from synthgrade.train import Trainer, TrainingArguments

POSITIVE = ["good great fine", "great good nice", "nice fine good", "fine great nice"]
NEGATIVE = ["bad awful poor", "awful poor wrong", "wrong bad awful", "poor wrong bad"]


def toy(prefix: str, n: int, start: int = 0, items: bool = True) -> pd.DataFrame:
    rows = []
    for i in range(start, start + n):
        positive = i % 2 == 0
        row = {
            "id": f"{prefix}{i}",
            "text": (POSITIVE if positive else NEGATIVE)[i % 4] + f" case {i % 5}",
            "label": "yes" if positive else "no",
        }
        if items:
            row |= {"item_id": "q1" if i % 3 else "q2", "item_text": "Is it good?" if i % 3 else "Is it fine?"}
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_encoder: Path) -> TransformerScorer:
    from helpers.tiny_encoder import make_tiny_encoder

    encoder = make_tiny_encoder(tmp_path_factory.mktemp("enc4"), layers=4)
    args = TrainingArguments(model=str(encoder), epochs=6, lr=3e-3, batch_size=8, patience=0, show_progress=False, max_length=32)
    return Trainer(args).train(toy("t", 80), toy("v", 24, start=1000))


def distil_args(student: str, **overrides) -> DistillationArguments:
    settings = {"student": student, "epochs": 6, "batch_size": 8, "patience": 0, "show_progress": False, "speed_rows": 16}
    settings.update(overrides)
    return DistillationArguments(**settings)


def test_kept_layers_are_evenly_spaced() -> None:
    assert kept_layers(6, 3) == [0, 2, 5]
    assert kept_layers(12, 6) == [0, 2, 4, 7, 9, 11]
    assert kept_layers(4, 1) == [3]


def test_layer_student_agrees_with_teacher_and_saves_smaller(teacher: TransformerScorer, tmp_path: Path) -> None:
    student = DistillationTrainer(teacher, distil_args("layers:2", lr=3e-3)).train(toy("t", 80), toy("v", 24, start=1000))
    summary = student.info.training["distillation"]
    assert student.model.config.num_hidden_layers == 2
    assert summary["agreement_val"] >= 0.9 and summary["student_validation"]["macro_f1"] >= 0.9
    assert summary["student_parameters"] < summary["teacher_parameters"]
    assert summary["speed"]["teacher"]["responses_per_s"] > 0 and summary["speedup"] > 0
    assert student.info.provenance["teacher"]["parameters"] == summary["teacher_parameters"]
    teacher.save_pretrained(tmp_path / "teacher")
    student.save_pretrained(tmp_path / "student")
    size = {name: sum(f.stat().st_size for f in (tmp_path / name).iterdir()) for name in ("teacher", "student")}
    assert size["student"] < size["teacher"]
    again = load_scorer(tmp_path / "student")
    unseen = toy("u", 12, start=3000)
    agreement = (again.predict(unseen) == teacher.predict(unseen)).mean()
    assert agreement >= 0.9


def test_layer_student_starts_from_teacher_weights(teacher: TransformerScorer) -> None:
    from synthgrade.distill import layer_student

    student = layer_student(teacher.model, 2)
    teacher_state, student_state = teacher.model.state_dict(), student.state_dict()
    kept = kept_layers(4, 2)
    key = "bert.encoder.layer.{}.attention.self.query.weight"
    assert np.allclose(student_state[key.format(1)].numpy(), teacher_state[key.format(kept[1])].numpy())
    assert np.allclose(student_state["classifier.weight"].numpy(), teacher_state["classifier.weight"].numpy())
    with pytest.raises(SynthgradeError, match="between 1 and 3"):
        layer_student(teacher.model, 4)


def test_static_student_learns_and_round_trips(teacher: TransformerScorer, tmp_path: Path) -> None:
    val = toy("v", 24, start=1000)
    student = DistillationTrainer(teacher, distil_args("static", epochs=10)).train(
        toy("t", 80), val, unlabeled_df=toy("x", 20, start=500)
    )
    assert isinstance(student, StaticScorer) and student.info.training["distillation"]["unlabeled_rows"] == 20
    assert student.info.training["distillation"]["agreement_val"] >= 0.9
    # Forward mirrors a transformers classifier (what ONNX export relies on).
    batch = student.encode(["Is it good?"], ["good great"])
    logits = student.model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")).logits
    assert tuple(logits.shape) == (1, 2)
    student.save_pretrained(tmp_path / "static")
    again = load_scorer(tmp_path / "static")
    assert isinstance(again, StaticScorer) and again.info.kind == "static"
    assert np.allclose(again.predict_proba(val), student.predict_proba(val), atol=1e-6)


def test_distillation_loss_matches_hinton_formula(teacher: TransformerScorer) -> None:
    import torch

    trainer = DistillationTrainer(teacher, distil_args("layers:1", tau=2.0, alpha=0.25))
    targets = np.array([[0.9, 0.1], [0.3, 0.7]])
    encoded = EncodedSet(["a", "b"], [np.array([1])] * 2, None, np.array([0, -1]), targets)
    logits = torch.tensor([[1.0, -1.0], [0.5, 0.2]])
    loss = float(trainer.compute_loss(logits, np.array([0, 1]), encoded, None))
    p_t = np.exp(np.log(targets) / 2) / np.exp(np.log(targets) / 2).sum(1, keepdims=True)
    log_s = torch.log_softmax(logits / 2, dim=-1).numpy()
    kl = (p_t * (np.log(p_t) - log_s)).sum(1).mean() * 4
    ce = -torch.log_softmax(logits, dim=-1).numpy()[0, 0]  # only the labelled row
    assert loss == pytest.approx(0.25 * ce + 0.75 * kl, rel=1e-5)


def test_bad_specs_and_arguments(teacher: TransformerScorer) -> None:
    with pytest.raises(SynthgradeError, match="alpha must be between 0 and 1"):
        DistillationArguments(alpha=1.5)
    with pytest.raises(SynthgradeError, match="tau must be positive"):
        DistillationArguments(tau=0)
    with pytest.raises(SynthgradeError, match="whole number"):
        DistillationTrainer(teacher, distil_args("layers:x")).train(toy("t", 8), toy("v", 4, start=50))
    with pytest.raises(SynthgradeError, match="synthetic rows"):
        DistillationTrainer(teacher, distil_args("static")).train(toy("t", 8), toy("v", 4, start=50).assign(synthetic=True))
    assert DistillationArguments(student="static").lr == 5e-3 and DistillationArguments().lr == 1e-4


def test_concat_sets_keeps_targets_and_unlabeled_marks() -> None:
    a = EncodedSet(["a"], [np.array([1, 2])], None, np.array([1]), np.array([[0.2, 0.8]]))
    b = EncodedSet(["b"], [np.array([3])], None, np.array([-1]), np.array([[0.6, 0.4]]))
    merged = concat_sets(a, b)
    assert merged.ids == ["a", "b"] and merged.labels.tolist() == [1, -1] and merged.targets.shape == (2, 2)


def test_distillation_reuses_the_trainer_loop_and_its_early_stopping(teacher: TransformerScorer, monkeypatch) -> None:
    """Only the hooks differ (targets, loss, record): the loop, its checks and early stopping are the Trainer's."""
    from synthgrade.scorers.transformer import TransformerTrainer

    assert not {"fit", "training_step", "check", "evaluate_split"} & set(vars(DistillationTrainer))
    scripted = iter([0.9, 0.5, 0.4, 0.3, 0.2, 0.1])
    real_evaluate = TransformerTrainer.evaluate_split
    losses: list[float] = []
    real_loss = DistillationTrainer.compute_loss

    def scripted_evaluate(self, model, encoded, pad_id):
        result = real_evaluate(self, model, encoded, pad_id)
        result["macro_f1"] = next(scripted, 0.0)
        return result

    def spy_loss(self, logits, index, train_set, class_weights):
        assert train_set.targets is not None and len(train_set.targets) == len(train_set)  # the teacher's targets
        loss = real_loss(self, logits, index, train_set, class_weights)
        losses.append(float(loss.detach()))
        return loss

    monkeypatch.setattr(TransformerTrainer, "evaluate_split", scripted_evaluate)
    monkeypatch.setattr(DistillationTrainer, "compute_loss", spy_loss)
    trainer = DistillationTrainer(teacher, distil_args("layers:1", patience=2, speed_rows=0))
    student = trainer.train(toy("t", 16), toy("v", 8, start=1000), unlabeled_df=toy("w", 8, start=2000).drop(columns="label"))
    assert len(trainer.curve) == 3 and trainer.best["stopped_early"] and trainer.best["epoch"] == 1.0
    assert len(losses) == 3 * 3  # 24 transfer + unlabeled rows in batches of 8, three epochs before the stop
    assert student.info.training["distillation"]["unlabeled_rows"] == 8 and student.info.training["curve"] == trainer.curve
