"""``predict``, ``export`` and ``serve``: using a trained scorer on files, as ONNX, and over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthgrade.commands.options import Host, Overwrite, Token, column_options
from synthgrade.console import console, stdout
from synthgrade.data import ColumnMap
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.io import check_outputs


def _quiet_loading() -> None:
    """transformers draws a tqdm bar per weight file; our own progress bars say what is happening."""
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


Threads = Annotated[
    int | None, typer.Option(help="CPU threads per model call (default: all cores; use fewer on a busy machine).")
]
ModelArg = Annotated[str, typer.Argument(help="A model directory saved by synthgrade (teacher, student or ONNX export).")]


@column_options()
def predict(
    model: ModelArg,
    data: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL or Parquet file of responses to score.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv, .tsv, .jsonl or .parquet): input rows + predictions.")],
    columns: ColumnMap = ColumnMap(),
    on_unscorable: Annotated[
        str,
        typer.Option(
            "--on-unscorable",
            help="blank: keep unscorable rows with an empty prediction and the reason in pred_problem (exit 0); "
            "fail: write nothing and exit 2 listing them.",
        ),
    ] = "blank",
    chunk_size: Annotated[int, typer.Option(help="Rows read and scored at a time (bounds memory).")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Rows per model call.")] = 64,
    show: Annotated[int, typer.Option(help="How many unscorable rows to list on stderr.")] = 10,
    threads: Threads = None,
    overwrite: Overwrite = False,
) -> None:
    """Score a file: writes every input row plus pred_label, prob_<label> per label and pred_problem."""
    from synthgrade.export import set_inference_threads
    from synthgrade.predict import predict_file

    check_outputs([out], [data, model], overwrite)
    _quiet_loading()
    set_inference_threads(threads)
    summary = predict_file(model, data, out, columns, chunk_size=chunk_size, batch_size=batch_size, on_unscorable=on_unscorable)  # type: ignore[arg-type]
    for problem in summary.problems[:show]:
        console.print(f"[yellow]unscorable:[/yellow] {problem}", highlight=False)
    listed = min(show, len(summary.problems))
    if summary.unscorable > listed:
        console.print(f"[yellow]... and {summary.unscorable - listed} more unscorable rows (see pred_problem)[/yellow]")
    counts = ", ".join(f"{label} {count:,}" for label, count in summary.label_counts.items())
    stdout.print(
        f"scored {summary.scored:,} of {summary.rows:,} rows in {summary.seconds:.1f}s ({counts}); "
        f"{summary.unscorable:,} unscorable rows written with an empty prediction; wrote {out}",
        highlight=False,
    )


@column_options("text_col", "item_col", "item_text_col", "reference_col")
def export(
    model: ModelArg,
    out: Annotated[Path, typer.Option("--out", help="Folder for the exported model (must not exist, or use --overwrite).")],
    fmt: Annotated[str, typer.Option("--format", help="Export format (onnx).")] = "onnx",
    int8: Annotated[
        bool, typer.Option("--int8", help="Dynamic int8 quantisation of the weights (smaller, faster on CPU).")
    ] = False,
    sample: Annotated[
        Path | None, typer.Option("--sample", help="Response file for the parity check (default: built-in responses).")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing exported model folder.")] = False,
    columns: ColumnMap = ColumnMap(),
) -> None:
    """Export to ONNX (optionally int8) and check it against the PyTorch model on a sample."""
    from synthgrade.export import export_onnx

    _quiet_loading()

    if fmt != "onnx":
        raise SynthgradeError(f"--format must be onnx, got {fmt!r}")
    # replacing a model folder is new_model_directory's call
    check_outputs([out], [model, sample], overwrite=True, directories=True)
    sample_frame = None
    if sample is not None:
        from synthgrade.data.stream import open_stream

        first_chunk = next(iter(open_stream(sample, 200, columns)), None)
        sample_frame = first_chunk.canonical(columns) if first_chunk is not None else None
    console.print(f"exporting {model} to ONNX{' (int8)' if int8 else ''} ...", highlight=False)
    result = export_onnx(model, out, int8=int8, sample=sample_frame, overwrite=overwrite)
    parity = result["parity"]
    stdout.print(
        f"parity on {parity['n']} sample inputs: max abs probability difference {parity['max_abs_diff']:.2e}, "
        f"label agreement {parity['agreement']:.1%}",
        highlight=False,
    )
    stdout.print(
        f"wrote {out}/ ({result['onnx_bytes'] / 1e6:.1f} MB model.onnx, {result['exporter']} exporter"
        f"{', int8' if int8 else ''}, {result['seconds']:.1f}s)",
        highlight=False,
    )


def serve(
    model: ModelArg,
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    token: Token = None,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body accepted (413 above it).")] = 1_000_000,
    max_batch: Annotated[int, typer.Option(help="Most responses per request (422 above it).")] = 256,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    threads: Threads = None,
    workers: Annotated[int, typer.Option(help="Server processes, each with its own copy of the model.")] = 1,
    batch_rows: Annotated[int, typer.Option(help="Most rows scored in one model call (merged requests).")] = 64,
    batch_wait_ms: Annotated[
        float, typer.Option(help="Longest wait for more requests to join a model call (only while more are arriving).")
    ] = 3.0,
    chunk_rows: Annotated[
        int, typer.Option(help="Most rows per forward pass within a model call (rows of similar length go together).")
    ] = 4,
    parallel_calls: Annotated[
        int,
        typer.Option(help="Model calls running at once per process (0: one per core when --threads is 1, else one)."),
    ] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds a request may wait for scoring (503 after it).")] = 120.0,
) -> None:
    """Serve the model over HTTP: POST /score, GET /health, GET /model, GET /metrics (Prometheus)."""
    from synthgrade.serve import check_binding, run_server

    check_binding(host, token)  # before the (slow) model load
    for name, value, least in (
        ("workers", workers, 1),
        ("batch_rows", batch_rows, 1),
        ("chunk_rows", chunk_rows, 1),
        ("parallel_calls", parallel_calls, 0),
    ):
        if value < least:
            raise ParameterError(name, f"must be at least {least}, got {value}")
    if batch_wait_ms < 0:
        raise ParameterError("batch_wait_ms", f"must not be negative, got {batch_wait_ms:g}")
    if not timeout > 0:
        raise ParameterError("timeout", f"must be positive, got {timeout:g}")
    _quiet_loading()
    try:
        run_server(
            model,
            host=host,
            port=port,
            token=token,
            max_body_bytes=max_body_bytes,
            max_batch=max_batch,
            log_level=log_level,
            threads=threads,
            workers=workers,
            batching={
                "max_rows_per_call": batch_rows,
                "max_wait_s": batch_wait_ms / 1000,
                "chunk_rows": chunk_rows,
                "parallel_calls": parallel_calls,
            },
            timeout_s=timeout,
        )
    except KeyboardInterrupt:  # Ctrl-C or a kill is how a server is stopped: a clean end, exit 0
        return


def register(app: typer.Typer) -> None:
    app.command()(predict)
    app.command()(export)
    app.command()(serve)
