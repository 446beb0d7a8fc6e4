"""ONNX export: parity with PyTorch, int8, the exported directory as a normal model, static students."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.tiny_scorer import ITEMS, LABELS, build_tiny_scorer

from synthgrade.distill import students
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.export import OnnxScorer, export_onnx
from synthgrade.modeling import ModelInfo, item_bank_from, load_scorer

FRAME = pd.DataFrame(
    {
        "text": ["The water evaporates and the salt stays.", "magnet", "I shook it hard for a long time", "no idea"],
        "item_id": ["q1", "q2", "q1", "q2"],
    }
)


@pytest.fixture(scope="module")
def pair_model(tiny_encoder: Path, tmp_path_factory) -> Path:
    return build_tiny_scorer(tiny_encoder, tmp_path_factory.mktemp("export-model"))


@pytest.fixture(scope="module")
def exported(pair_model: Path, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("exports") / "fp32"
    return out, export_onnx(pair_model, out)


def test_fp32_export_matches_pytorch_and_loads_as_onnx_scorer(pair_model: Path, exported: tuple[Path, dict]) -> None:
    out, result = exported
    assert result["exporter"] == "dynamo" and result["int8"] is False
    assert result["parity"]["n"] == 10 and result["parity"]["max_abs_diff"] < 1e-4 and result["parity"]["agreement"] == 1.0
    scorer = load_scorer(out)
    assert isinstance(scorer, OnnxScorer) and scorer.labels == LABELS and scorer.info.kind == "onnx"
    source = load_scorer(pair_model)
    # dynamic axes: a batch size and sequence lengths other than those traced
    assert np.allclose(scorer.predict_proba(FRAME), source.predict_proba(FRAME), atol=1e-5)
    assert np.allclose(scorer.predict_proba(FRAME.head(1)), source.predict_proba(FRAME.head(1)), atol=1e-5)
    # rows grouped by token length (one call each here) score as in one padded batch
    first, second = scorer.check_scorable(FRAME)
    assert np.allclose(scorer.predict_proba_inputs(first, second, batch_size=1), scorer.predict_proba(FRAME), atol=1e-5)
    info = ModelInfo.load(out)
    assert info.item_bank.keys() == {"q1", "q2"} and info.input_mode == "pair"
    assert info.provenance["train_synthetic_rows"] == 96  # the source's provenance travels with the export
    assert info.provenance["export"]["source"] == str(pair_model.resolve())
    assert info.provenance["export"]["source_kind"] == "transformer"
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "dynamo exporter, fp32" in card and "sk-SECRET" not in card
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "model.onnx",
        "synthgrade.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]


def test_int8_export_replaces_an_export_and_is_smaller(pair_model: Path, exported: tuple[Path, dict], tmp_path: Path) -> None:
    out = tmp_path / "int8"
    shutil.copytree(exported[0], out)
    sample = FRAME.assign(_where=[f"s.csv line {i}" for i in range(2, 6)])
    result = export_onnx(pair_model, out, int8=True, sample=sample, overwrite=True)
    assert result["int8"] is True and result["parity"]["n"] == 4
    assert result["onnx_bytes"] < exported[1]["onnx_bytes"] / 2
    assert result["parity"]["max_abs_diff"] < 0.1
    scorer = load_scorer(out)
    proba = scorer.predict_proba(FRAME)
    assert proba.shape == (4, 2) and np.allclose(proba.sum(axis=1), 1.0)
    record = ModelInfo.load(out).provenance["export"]
    assert record["int8"] is True and record["quantization"].startswith("onnxruntime dynamic int8")
    assert "dynamic int8" in (out / "README.md").read_text(encoding="utf-8")


def test_export_refuses_what_it_cannot_do(pair_model: Path, exported: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = exported
    with pytest.raises(SynthgradeError, match="already exists and is not empty.*--overwrite"):
        export_onnx(pair_model, out)
    with pytest.raises(SynthgradeError, match="already an ONNX export"):
        export_onnx(out, tmp_path / "again")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SynthgradeError, match="not a model directory; refusing"):
        export_onnx(pair_model, tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "keep.txt").exists()

    class NoTorch(OnnxScorer.__mro__[1]):  # a Scorer without a torch model (like the TF-IDF baseline)
        def __init__(self) -> None:
            self.info = ModelInfo(kind="tfidf", labels=LABELS)

        def predict_proba_inputs(self, first, second, batch_size=64):
            return np.full((len(first), 2), 0.5)

        def save_weights(self, directory):
            pass

        @classmethod
        def load_weights(cls, directory, info):
            return cls()

    with pytest.raises(SynthgradeError, match="'tfidf' model cannot be exported"):
        export_onnx(NoTorch(), tmp_path / "tfidf")
    assert not (tmp_path / "tfidf").exists() and not list(tmp_path.glob(".tfidf*"))


def test_static_student_exports(tiny_encoder: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    teacher = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=2)
    info = ModelInfo(kind="static", labels=LABELS, input_mode="pair", item_bank=item_bank_from(ITEMS))
    static = students.StaticScorer(
        students.static_student(teacher, 2, pair=True), AutoTokenizer.from_pretrained(tiny_encoder), info
    )
    static.save_pretrained(tmp_path / "static")
    result = export_onnx(tmp_path / "static", tmp_path / "static-onnx")
    assert result["source_kind"] == "static" and result["parity"]["max_abs_diff"] < 1e-5
    onnx_scorer = load_scorer(tmp_path / "static-onnx")
    assert np.allclose(onnx_scorer.predict_proba(FRAME), load_scorer(tmp_path / "static").predict_proba(FRAME), atol=1e-5)


def test_export_cli(pair_model: Path, tmp_path: Path, cli) -> None:
    result = cli("export", pair_model, "--format", "tflite", "--out", tmp_path / "x")
    assert result.returncode == 2 and "--format must be onnx" in result.stderr
    missing = cli("export", tmp_path / "nope", "--out", tmp_path / "y")
    assert missing.returncode == 2 and "no such model directory" in missing.stderr and "Traceback" not in missing.stderr


def test_inference_threads_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from synthgrade.export import set_inference_threads

    monkeypatch.delenv("SYNTHGRADE_ONNX_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        set_inference_threads(1)
        assert torch.get_num_threads() == 1 and os.environ["SYNTHGRADE_ONNX_THREADS"] == "1"
        with pytest.raises(ParameterError, match="^threads must be at least 1, got 0$") as refused:
            set_inference_threads(0)
        assert refused.value.param == "threads"  # the CLI shows it as --threads
    finally:
        torch.set_num_threads(before)


class _CountingSession:
    """An onnxruntime session that records the (rows, tokens) shape of every call."""

    def __init__(self, session) -> None:
        self.session = session
        self.shapes: list[tuple[int, int]] = []

    def run(self, names, feed):
        self.shapes.append(feed["input_ids"].shape)
        return self.session.run(names, feed)


def test_int8_exports_score_one_row_per_call_so_neighbours_never_change_a_score(
    exported: tuple[Path, dict], tmp_path: Path, pair_model: Path
) -> None:
    fp32 = load_scorer(exported[0])
    export_onnx(pair_model, tmp_path / "int8", int8=True)
    int8 = load_scorer(tmp_path / "int8")
    assert fp32.rows_per_call is None and int8.rows_per_call == 1
    texts = ["salt stays", "salt goes", "The water evaporates and the salt stays behind in the dish.", "magnet"]
    frame = pd.DataFrame({"text": texts, "item_id": ["q1"] * 4})
    for scorer in (fp32, int8):
        first, second = scorer.check_scorable(frame)
        alone = scorer.predict_proba_inputs(first, second, batch_size=1)
        scorer.session = counting = _CountingSession(scorer.session)
        together = scorer.predict_proba_inputs(first, second, batch_size=8)
        assert np.allclose(together, alone, atol=1e-5)  # grouping never changes a score
        if scorer is int8:  # activation scales are set per call: a row is scored alone
            assert [rows for rows, _ in counting.shapes] == [1] * len(texts)
        else:  # fp32: rows of similar length share a call
            assert len(counting.shapes) < len(texts)
        assert sum(rows for rows, _ in counting.shapes) == len(texts)
