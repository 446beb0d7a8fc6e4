"""The model card: data counts, generator settings, lineage, metrics with CIs and their test set, no secrets."""

from __future__ import annotations

from pathlib import Path

from synthgrade.modelcard import redact, render_model_card, write_model_card
from synthgrade.modeling import ModelInfo, load_scorer


def metric(value: float, low: float, high: float) -> dict:
    return {"value": value, "ci_low": low, "ci_high": high}


INFO = ModelInfo(
    kind="transformer",
    labels=["correct", "partially_correct", "incorrect"],
    input_mode="pair",
    base_model="minilm-l6",
    parameters=22_713_987,
    ordinal=True,
    provenance={
        "train_rows": 500,
        "train_human_rows": 100,
        "train_synthetic_rows": 400,
        "val_rows": 60,
        "train_hash": "abc123",
        "synthetic_sources": [
            {"backend": "openai", "model": "gpt-4o", "temperature": 0.3, "top_p": 1.0, "filter_method": "llm", "rows": 400}
        ],
        "teacher": {"path": "runs/teacher", "kind": "transformer", "api_key": "sk-LEAK"},
        "generator_settings": {"base_url": "http://localhost:8080/v1", "openai_api_key": "sk-LEAK2"},
    },
    training={"arguments": {"epochs": 3, "learning_rate": 5e-5}, "validation": {"accuracy": metric(0.81, 0.75, 0.86)}},
    evaluations=[
        {
            "test": "test-unseen-answers",
            "test_hash": "f00d",
            "n": 540,
            "bootstrap": 1000,
            "metrics": {"accuracy": metric(0.7712, 0.7401, 0.8003), "macro_f1": metric(0.7, 0.66, 0.74)},
        }
    ],
)


def test_card_reports_data_lineage_and_metrics_with_cis() -> None:
    card = render_model_card(INFO)
    assert "| human-coded rows | 100 |" in card and "| synthetic rows | 400 |" in card
    assert "| openai | gpt-4o | 0.30 | 1.00 | llm | 400 |" in card  # generator, temperature, filter
    assert "student distilled from a teacher" in card and "runs/teacher" in card
    assert "Test set `test-unseen-answers` (hash `f00d`, n = 540, 1000 bootstrap resamples)" in card
    assert "| accuracy | 0.771 | [0.740, 0.800] |" in card
    assert "not a test result" in card and "| accuracy | 0.810 | [0.750, 0.860] |" in card
    assert "## Intended use and limits" in card and "ordinal labels" in card
    assert "sk-LEAK" not in card and "api_key" not in card


def test_card_for_a_bare_model_says_what_is_missing() -> None:
    card = render_model_card(ModelInfo(kind="onnx", labels=["a", "b"]))
    assert "Not recorded" in card and "No test-set evaluation recorded yet" in card


def test_redact_drops_secret_keys_recursively() -> None:
    cleaned = redact({"a": 1, "API-Key": "x", "nested": [{"auth_token": "y", "ok": 2}], "password": "z"})
    assert cleaned == {"a": 1, "nested": [{"ok": 2}]}


def test_save_pretrained_writes_the_card(tiny_encoder: Path, tmp_path: Path) -> None:
    from helpers.tiny_scorer import build_tiny_scorer

    directory = build_tiny_scorer(tiny_encoder, tmp_path / "m")
    card = (directory / "README.md").read_text(encoding="utf-8")
    assert "| human-coded rows | 24 |" in card and "| synthetic rows | 96 |" in card
    assert "The synthetic rows carry no generator provenance." in card and "sk-SECRET" not in card
    scorer = load_scorer(directory)
    write_model_card(tmp_path / "m", scorer.info.model_copy(update={"evaluations": INFO.evaluations}))
    assert "test-unseen-answers" in (directory / "README.md").read_text(encoding="utf-8")
