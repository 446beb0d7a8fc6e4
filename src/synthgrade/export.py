"""ONNX export (optionally dynamic int8) of any scorer with a torch ``.model`` and a ``.tokenizer``.

The exported directory is a normal synthgrade model directory (``synthgrade.json`` with kind ``onnx``,
the tokenizer files, ``model.onnx`` and a model card), so ``predict``, ``evaluate`` and ``serve`` open it
like any other. It keeps the source model's labels, input mode, item bank, provenance, training record
and evaluations, and adds ``provenance.export`` (source path and kind, exporter, int8, parity check).

The graph, its quantization and the onnxruntime session come from :mod:`synthgrade.onnx_graph` (the frozen
encoders of :mod:`synthgrade.embed` use the same functions).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.modeling import (
    ModelInfo,
    Scorer,
    build_inputs,
    item_context,
    load_scorer,
    new_model_directory,
    padded_arrays,
    similar_length_chunks,
)
from synthgrade.onnx_graph import INPUT_NAMES, export_graph, positional_module, quantize_int8
from synthgrade.onnx_graph import open_session as _session

ONNX_FILE = "model.onnx"

#: Responses used for the parity check when no sample is given: short, long, odd.
DEFAULT_SAMPLE = [
    "Yes.",
    "I don't know.",
    "The water evaporates when it is heated and the salt is left behind in the dish.",
    "Because the magnet attracts the iron filings but not the sand, so you can pull them apart.",
    "Plants need sunlight, water and carbon dioxide to make their own food through photosynthesis.",
    "it gets bigger",
    "The force of gravity pulls the ball down so it speeds up as it falls, unless air resistance balances it.",
    "Prices rise when demand is high and supply is low.",
    "42",
    "A longer response that rambles on about several things at once, mentioning heat, energy, particles, motion, "
    "and the way the teacher explained it in class last week with the experiment on the bench.",
]


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def set_inference_threads(threads: int | None) -> None:
    """CPU threads per model call for PyTorch and for ONNX sessions created afterwards (None: library defaults).

    On a busy machine, more threads than free cores makes every call wait on the slowest thread
    (a single MiniLM call went from 38 ms to over 1 s at two threads on an oversubscribed 2-core box).
    """
    if threads is None:
        return
    if threads < 1:
        raise ParameterError("threads", f"must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)
    os.environ["SYNTHGRADE_ONNX_THREADS"] = str(threads)


class OnnxScorer(Scorer):
    """A scorer backed by an onnxruntime session over ``model.onnx`` plus the source model's tokenizer.

    An int8 export scores one row per session call (``rows_per_call`` 1). Its dynamic quantization
    sets each activation's scale from the whole call, so a row scored beside others got a slightly
    different probability than alone (0.3113 alone, 0.3098 next to a row of equal length): a served
    response's score would depend on whoever else was being served. One row a call is also the
    cheaper way on a CPU (2 cores, SciEntsBank pairs, MiniLM 3-layer int8, CPU time per row: 2.61 ms
    one row a call after one tokenizer call for six rows, 2.82 ms sharing calls with up to 10% padding).
    """

    kind = "onnx"

    def __init__(
        self, session: Any, tokenizer: Any, info: ModelInfo, directory: Path | None = None, rows_per_call: int | None = None
    ) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.info = info
        self.directory = directory
        self.input_names = [i.name for i in session.get_inputs()]
        if rows_per_call is None and (info.provenance or {}).get("export", {}).get("int8"):
            rows_per_call = 1
        self.rows_per_call = rows_per_call

    def predict_proba_inputs(self, first: Sequence[str], second: Sequence[str] | None, batch_size: int = 64) -> np.ndarray:
        """Tokenized once, then scored in chunks of similar token length (little padding), in input order."""
        out = np.zeros((len(first), len(self.labels)), dtype=np.float64)
        if not len(first):
            return out
        encoded = self.tokenizer(
            list(first),
            list(second) if second is not None else None,
            truncation="longest_first",
            max_length=self.info.max_length,
            padding=False,
        )
        pad_id = self.tokenizer.pad_token_id or 0
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        lengths = [len(ids) for ids in encoded["input_ids"]]
        for index in similar_length_chunks(lengths, min(batch_size, self.rows_per_call or batch_size)):
            feed = padded_arrays(encoded, index, self.input_names, pad_id, left)
            out[index] = _softmax(self.session.run(None, feed)[0])
        return out

    def save_weights(self, directory: Path) -> None:
        if self.directory is None:
            raise SynthgradeError("this ONNX scorer was not loaded from a directory; export it with export_onnx")
        if directory.resolve() != self.directory.resolve():
            for item in self.directory.iterdir():
                if item.is_file():
                    shutil.copy2(item, directory / item.name)

    @classmethod
    def load_weights(cls, directory: Path, info: ModelInfo) -> OnnxScorer:
        from transformers import AutoTokenizer

        path = directory / ONNX_FILE
        if not path.exists():
            raise SynthgradeError(f"{directory}: ONNX model directory without {ONNX_FILE}")
        tokenizer = AutoTokenizer.from_pretrained(directory)
        return cls(_session(path), tokenizer, info, directory)


def _export_graph(scorer: Scorer, path: Path) -> tuple[str, list[str]]:
    """Write an fp32 ONNX graph of the scorer's logits with dynamic batch and sequence axes; returns (exporter, input names)."""
    first = ["a short answer", "a somewhat longer example answer used only to trace the graph"]
    second = ["the response", "another response"] if scorer.info.input_mode == "pair" else None
    encoded = scorer.tokenizer(
        first, second, padding=True, truncation=True, max_length=scorer.info.max_length, return_tensors="pt"
    )
    names = [n for n in INPUT_NAMES if n in encoded]
    model = scorer.model
    module = positional_module(lambda **inputs: model(**inputs).logits, names)
    exporter = export_graph(module, tuple(encoded[n] for n in names), names, path, "logits")
    return exporter, names


def sample_inputs(info: ModelInfo, sample: pd.DataFrame | None = None, limit: int = 64) -> tuple[list[str], list[str] | None]:
    """Inputs for the parity check: scorable rows of ``sample``, else built-in responses (paired with bank items)."""
    if sample is not None and len(sample):
        first, second, problems = build_inputs(sample.head(limit * 2), info)
        bad = {problem.row for problem in problems}
        keep = [i for i in range(len(first)) if i not in bad][:limit]
        if keep:
            return [first[i] for i in keep], [second[i] for i in keep] if second is not None else None
    if info.input_mode == "pair":
        contexts = [item_context(e.item_text, e.reference) for e in info.item_bank.values()] or [
            "What happens to salt water when heated?"
        ]
        contexts = [c for c in contexts if c] or ["What happens to salt water when heated?"]
        return [contexts[i % len(contexts)] for i in range(len(DEFAULT_SAMPLE))], list(DEFAULT_SAMPLE)
    return list(DEFAULT_SAMPLE), None


def parity_check(reference: Scorer, exported: Scorer, first: Sequence[str], second: Sequence[str] | None) -> dict[str, Any]:
    """Max absolute probability difference and label agreement between two scorers on the same inputs."""
    expected = reference.predict_proba_inputs(first, second)
    got = exported.predict_proba_inputs(first, second)
    return {
        "n": len(first),
        "max_abs_diff": float(np.abs(expected - got).max()) if len(first) else 0.0,
        "agreement": float((expected.argmax(axis=1) == got.argmax(axis=1)).mean()) if len(first) else 1.0,
    }


def export_onnx(
    scorer_or_dir: Scorer | str | Path,
    out_dir: str | Path,
    int8: bool = False,
    sample: pd.DataFrame | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export a scorer (or a saved model directory) to ``out_dir`` as ONNX; returns a summary with the parity check.

    Works for any scorer whose ``.model`` is a torch module taking ``input_ids``, ``attention_mask`` (and
    ``token_type_ids``) and returning ``.logits``, with a ``.tokenizer`` that can ``save_pretrained``:
    fine-tuned transformers and the static student. The directory appears only when everything succeeded.
    """
    source_path = None if isinstance(scorer_or_dir, Scorer) else Path(scorer_or_dir)
    scorer = scorer_or_dir if isinstance(scorer_or_dir, Scorer) else load_scorer(scorer_or_dir)
    kind = scorer.info.kind
    if isinstance(scorer, OnnxScorer):
        raise SynthgradeError(f"{source_path or 'the scorer'} is already an ONNX export; export its source model instead")
    model, tokenizer = getattr(scorer, "model", None), getattr(scorer, "tokenizer", None)
    try:
        import torch

        is_module = isinstance(model, torch.nn.Module)
    except ImportError:  # pragma: no cover - torch is a dependency
        is_module = False
    if not is_module or tokenizer is None or not hasattr(tokenizer, "save_pretrained"):
        raise SynthgradeError(f"a '{kind}' model cannot be exported to ONNX (needs a torch model and a tokenizer)")
    out_dir = Path(out_dir)
    started = time.perf_counter()
    with new_model_directory(out_dir, overwrite) as staging:
        model.eval()
        fp32 = staging / ("model.fp32.onnx" if int8 else ONNX_FILE)
        exporter, names = _export_graph(scorer, fp32)
        if int8:
            quantize_int8(fp32, staging / ONNX_FILE)
            fp32.unlink()
        tokenizer.save_pretrained(staging)
        info = ModelInfo.model_validate(scorer.info.model_dump(mode="json"))
        info.kind = "onnx"
        export_record: dict[str, Any] = {
            "source": str(source_path.resolve()) if source_path else None,
            "source_kind": kind,
            "source_parameters": info.parameters,
            "exporter": exporter,
            "inputs": names,
            "int8": int8,
            "quantization": "onnxruntime dynamic int8 (weights QInt8)" if int8 else None,
            "onnx_bytes": (staging / ONNX_FILE).stat().st_size,
        }
        exported = OnnxScorer(_session(staging / ONNX_FILE), tokenizer, info, staging)
        first, second = sample_inputs(scorer.info, sample)
        export_record["parity"] = parity_check(scorer, exported, first, second)
        info.provenance = {**info.provenance, "export": export_record}
        info.save(staging)
    return {"out": str(out_dir), **export_record, "seconds": round(time.perf_counter() - started, 2)}
