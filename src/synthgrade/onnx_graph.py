"""ONNX graphs of torch modules: export (dynamic batch and sequence axes), dynamic int8 quantization, and
onnxruntime sessions. Shared by ``export`` (whole scorers) and ``embed`` (the frozen sentence encoders).

Exporter: the torch.export-based exporter (``dynamo=True``) gives outputs identical to PyTorch for
transformers 5 BERT models; the legacy TorchScript exporter is used only if it fails (it drifts by about
1e-2 with transformers 5's attention masks, which the callers' parity checks then show).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from synthgrade.console import console
from synthgrade.errors import SynthgradeError

#: The tokenizer outputs a BERT-like graph takes, in this order.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def positional_module(call: Callable[..., Any], names: Sequence[str]) -> Any:
    """A torch module whose forward takes the named input tensors positionally and returns ``call(**inputs)``.

    The forward spells the argument names out, so torch.export can map dynamic shapes onto them.
    """
    import torch

    class Positional(torch.nn.Module):
        pass

    if list(names) == list(INPUT_NAMES):

        def forward(self, input_ids, attention_mask, token_type_ids):
            return call(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)

    elif list(names) == list(INPUT_NAMES[:2]):

        def forward(self, input_ids, attention_mask):
            return call(input_ids=input_ids, attention_mask=attention_mask)

    else:
        raise SynthgradeError(f"cannot export: the tokenizer gives {list(names)}, expected input_ids and attention_mask")
    Positional.forward = forward
    return Positional().eval()


def export_graph(module: Any, args: tuple, names: Sequence[str], path: Path, output: str) -> str:
    """Write ``module`` (taking ``args``, named ``names``) to ``path`` as an fp32 ONNX graph with dynamic batch
    and sequence axes and one output named ``output`` (batch first); returns the exporter used."""
    import onnx
    import torch

    names = list(names)
    raw = path.with_suffix(".raw.onnx")
    exporter = "dynamo"
    registration_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    previous_level = registration_log.level
    registration_log.setLevel(logging.ERROR)  # "torchvision is not installed" notes are noise here
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            try:
                batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
                torch.onnx.export(
                    module,
                    args,
                    str(raw),
                    dynamo=True,
                    input_names=names,
                    output_names=[output],
                    dynamic_shapes={n: {0: batch, 1: sequence} for n in names},
                    verbose=False,
                )
            except Exception as exc:  # torch.export cannot trace every model; fall back to TorchScript tracing
                cause = exc.__cause__ or exc
                reason = f"{type(cause).__name__}: {str(cause).strip().splitlines()[0][:160] if str(cause).strip() else ''}"
                console.print(
                    f"[yellow]warning:[/yellow] torch.export failed ({reason}); using the TorchScript exporter", highlight=False
                )
                exporter = "torchscript"
                axes = {n: {0: "batch", 1: "sequence"} for n in names} | {output: {0: "batch"}}
                torch.onnx.export(
                    module,
                    args,
                    str(raw),
                    dynamo=False,
                    input_names=names,
                    output_names=[output],
                    dynamic_axes=axes,
                    opset_version=17,
                )
    finally:
        registration_log.setLevel(previous_level)
    graph = onnx.load(str(raw))
    # Shapes recorded while tracing confuse onnxruntime's quantizer; onnxruntime re-infers them anyway.
    del graph.graph.value_info[:]
    onnx.save_model(graph, str(path), save_as_external_data=False)
    for leftover in path.parent.glob(raw.name + "*"):
        leftover.unlink()
    return exporter


def quantize_int8(source: Path, target: Path, per_channel: bool = False) -> None:
    """Dynamic int8 quantization (weights QInt8, activation scales per call) of the graph ``source`` into ``target``;
    ``per_channel``: one weight scale per output channel (MiniLM sentence vectors: cosine to fp32 0.993 on average,
    0.964 with one scale per tensor)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # onnxruntime's quantizer logs a pre-processing hint on the root logger at WARNING; keep stderr clean.
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=per_channel)
    finally:
        root.setLevel(previous)


def open_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session over ``path`` (threads: argument, else ``$SYNTHGRADE_ONNX_THREADS``, else the
    library default); a file onnxruntime cannot read is a one-line :class:`SynthgradeError`."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    threads = threads or int(os.environ.get("SYNTHGRADE_ONNX_THREADS", "0"))
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a bad file
        raise SynthgradeError(f"{path}: cannot load ONNX model ({str(exc).splitlines()[0]})") from None
