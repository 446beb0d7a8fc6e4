"""Batch scoring of response files: stream chunks in, write input rows plus predictions out.

Policy for rows that cannot be scored (empty text; no item, or an item the model's item bank does not
know, for a model that scores (item, response) pairs):

* ``on_unscorable="blank"`` (the default) keeps every input row in the output, in order, so the output
  joins back to the input one-to-one: an unscorable row gets an empty ``pred_label``, empty
  probabilities and the reason in ``pred_problem``. Every such row is counted and reported with its
  row number (``PredictionSummary.unscorable`` / ``.problems``); nothing is dropped.
* ``on_unscorable="fail"`` writes nothing and raises :class:`SynthgradeError` listing the rows.

Rows that cannot even be read (a broken JSON line, a CSV row with the wrong number of fields,
undecodable bytes) make the file itself malformed: nothing is written and every such line is listed.
The output is written to a temporary file beside the target and renamed into place only on success.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from synthgrade.console import console, progress
from synthgrade.data.readers import CSV_LINE_END
from synthgrade.data.schema import WHERE, ColumnMap
from synthgrade.data.stream import DEFAULT_CHUNK_SIZE, STREAM_SUFFIXES, open_stream
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.io import atomic_path, check_outputs
from synthgrade.modeling import Scorer, build_inputs, load_scorer

PRED_LABEL = "pred_label"
PRED_PROBLEM = "pred_problem"
PROB_PREFIX = "prob_"
#: How many problem lines a summary keeps (the count is always exact).
MAX_LISTED_PROBLEMS = 1000
OnUnscorable = Literal["blank", "fail"]


@dataclass
class PredictionSummary:
    """What ``predict_file`` did; ``problems`` lists the first unscorable rows with their locations."""

    input: str
    output: str | None
    labels: list[str]
    rows: int = 0
    scored: int = 0
    unscorable: int = 0
    problems: list[str] = field(default_factory=list)
    label_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    on_unscorable: str = "blank"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prediction_columns(labels: list[str]) -> list[str]:
    return [PRED_LABEL, *(f"{PROB_PREFIX}{label}" for label in labels), PRED_PROBLEM]


def score_frame(scorer: Scorer, frame: pd.DataFrame, batch_size: int = 64) -> tuple[np.ndarray, list[str | None]]:
    """Probabilities for the scorable rows of a canonical frame (NaN rows for the others) and per-row problems."""
    first, second, problems = build_inputs(frame, scorer.info)
    grouped: dict[int, list[str]] = {}
    for problem in problems:
        grouped.setdefault(problem.row, []).append(problem.message)
    reasons: list[str | None] = ["; ".join(grouped[row]) if row in grouped else None for row in range(len(frame))]
    proba = np.full((len(frame), len(scorer.labels)), np.nan)
    good = [i for i, reason in enumerate(reasons) if reason is None]
    if good:
        proba[good] = scorer.predict_proba_inputs(
            [first[i] for i in good], [second[i] for i in good] if second is not None else None, batch_size
        )
    return proba, reasons


def add_predictions(rows: pd.DataFrame, labels: list[str], proba: np.ndarray, reasons: list[str | None]) -> pd.DataFrame:
    """Input rows plus ``pred_label``, one ``prob_<label>`` column per label and ``pred_problem``."""
    out = rows.copy()
    scored = ~np.isnan(proba).any(axis=1) if len(proba) else np.zeros(0, dtype=bool)
    names = np.asarray(labels, dtype=object)
    out[PRED_LABEL] = pd.Series(
        [names[k] if ok else None for k, ok in zip(proba.argmax(axis=1) if len(proba) else [], scored, strict=True)],
        index=out.index,
        dtype=object,
    )
    for j, label in enumerate(labels):
        out[f"{PROB_PREFIX}{label}"] = pd.Series(proba[:, j], index=out.index, dtype="float64")
    out[PRED_PROBLEM] = pd.Series(reasons, index=out.index, dtype=object)
    return out


class _TableWriter:
    """Append chunks to one CSV/TSV/JSONL/Parquet file with a fixed column list."""

    def __init__(self, path: Path, fmt: str, columns: list[str], arrow_schema: Any | None, labels: list[str]) -> None:
        self.path, self.fmt, self.columns = path, fmt, columns
        self.started = False
        self.handle = None
        self.parquet = None
        self.schema = None
        self.keep_types = arrow_schema is not None
        if fmt == "parquet":
            import pyarrow as pa

            source_fields = (
                [arrow_schema.field(c) for c in columns if c in arrow_schema.names]
                if arrow_schema is not None
                else [pa.field(c, pa.string()) for c in columns if not _is_prediction_column(c, labels)]
            )
            prediction_fields = [pa.field(PRED_LABEL, pa.string())]
            prediction_fields += [pa.field(f"{PROB_PREFIX}{label}", pa.float64()) for label in labels]
            prediction_fields.append(pa.field(PRED_PROBLEM, pa.string()))
            self.schema = pa.schema(source_fields + prediction_fields)
        else:
            self.handle = open(path, "w", encoding="utf-8", newline="")

    def write(self, frame: pd.DataFrame) -> None:
        frame = frame[self.columns]
        if self.fmt in {"csv", "tsv"}:
            sep = "," if self.fmt == "csv" else "\t"
            frame.to_csv(self.handle, index=False, header=not self.started, sep=sep, lineterminator=CSV_LINE_END)
        elif self.fmt == "jsonl":
            for record in frame.to_dict(orient="records"):
                self.handle.write(
                    json.dumps({k: _json_value(v) for k, v in record.items()}, ensure_ascii=False, default=str) + "\n"
                )
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if not self.keep_types:  # text sources: metadata values as strings, so every chunk has one schema
                frame = frame.copy()
                for column in self.schema.names:
                    if pa.types.is_string(self.schema.field(column).type):
                        frame[column] = [_as_string(v) for v in frame[column]]
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
            if self.parquet is None:
                self.parquet = pq.ParquetWriter(self.path, self.schema)
            self.parquet.write_table(table)
        self.started = True

    def close(self) -> None:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            if self.parquet is None:  # no rows: still a valid file with the full schema
                self.parquet = pq.ParquetWriter(self.path, self.schema)
            self.parquet.close()
        else:
            if not self.started:
                self.handle.write(("," if self.fmt == "csv" else "\t").join(self.columns) + "\n" if self.fmt != "jsonl" else "")
            self.handle.close()


def _is_prediction_column(column: str, labels: list[str]) -> bool:
    return column in prediction_columns(labels)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()]
    return None if not isinstance(value, list | dict) and _missing(value) else value


def _as_string(value: Any) -> str | None:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if _missing(value):
        return None
    return str(value)


def predict_file(
    model: Scorer | str | Path,
    data: str | Path,
    out: str | Path,
    columns: ColumnMap | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    batch_size: int = 64,
    on_unscorable: OnUnscorable = "blank",
    show_progress: bool = True,
) -> PredictionSummary:
    """Score every row of ``data`` with ``model`` and write ``out`` (format from its extension).

    Memory holds one chunk of ``chunk_size`` rows at a time. See the module docstring for what happens
    to rows that cannot be scored or read.
    """
    if on_unscorable not in {"blank", "fail"}:
        raise ParameterError("on_unscorable", f"must be blank or fail, got {on_unscorable!r}")
    out = Path(out)
    out_format = _output_format(out)
    # the library replaces outputs; the CLI asks for --overwrite
    check_outputs([out], [data, None if isinstance(model, Scorer) else model], overwrite=True)
    columns = columns or ColumnMap()
    stream = open_stream(data, chunk_size, columns)
    scorer = model if isinstance(model, Scorer) else load_scorer(model)
    labels = scorer.labels
    added = prediction_columns(labels)
    clashes = [c for c in stream.columns if c in added]
    if clashes:
        console.print(
            f"[yellow]warning:[/yellow] {stream.path.name} already has {', '.join(clashes)}; the output replaces them",
            highlight=False,
        )
    source_columns = [c for c in stream.columns if c not in added]
    summary = PredictionSummary(str(data), None, labels, on_unscorable=on_unscorable, label_counts=dict.fromkeys(labels, 0))
    read_problems: list[str] = []
    read_failures = 0
    started = time.perf_counter()
    bar = progress(transient=not show_progress)
    with atomic_path(out) as tmp, bar:
        task = bar.add_task("scoring", total=stream.total_rows or None, rate="", visible=show_progress)
        writer = _TableWriter(
            tmp, out_format, source_columns + added, stream.arrow_schema if out_format == "parquet" else None, labels
        )
        try:
            for chunk in stream:
                frame = chunk.canonical(columns) if len(chunk.rows) else None  # adds rows whose text is not text
                read_failures += len(chunk.problems)
                read_problems.extend(str(p) for p in chunk.problems[: max(0, MAX_LISTED_PROBLEMS - len(read_problems))])
                rows = chunk.rows
                summary.rows += len(rows)
                if frame is None:
                    continue
                # once the output is bound to be discarded, only find the remaining problems, skip the model
                discarded = bool(read_problems) or (on_unscorable == "fail" and summary.unscorable > 0)
                result = _score_chunk(scorer, frame, rows.drop(columns=[c for c in clashes if c in rows.columns]), summary,
                                      batch_size, discarded)  # fmt: skip
                if result is not None and not (on_unscorable == "fail" and summary.unscorable):
                    writer.write(result)
                elapsed = max(time.perf_counter() - started, 1e-9)
                bar.update(task, advance=len(rows), rate=f"{summary.rows / elapsed:,.0f} rows/s")
            # the total was estimated from line counts (quoted newlines, blank lines): settle on the real count
            bar.update(task, total=summary.rows, completed=summary.rows)
        finally:
            writer.close()
        _refuse_unreadable(out, read_problems, read_failures)
        if on_unscorable == "fail":
            _refuse_unscorable(out, summary)
    summary.scored = summary.rows - summary.unscorable
    summary.output = str(out)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _output_format(out: Path) -> str:
    out_format = STREAM_SUFFIXES.get(out.suffix.lower())
    if out_format is None:
        raise SynthgradeError(
            f"{out}: cannot write {out.suffix or 'a file without extension'}; use .csv, .tsv, .jsonl or .parquet"
        )
    return out_format


def _score_chunk(
    scorer: Scorer, frame: pd.DataFrame, rows: pd.DataFrame, summary: PredictionSummary, batch_size: int, discarded: bool
) -> pd.DataFrame | None:
    """One chunk's rows with their predictions (None when ``discarded``: its problems are counted, the model is
    not run); unscorable rows are counted and listed in ``summary``."""
    if discarded:
        _, _, problems = build_inputs(frame, scorer.info)
        summary.unscorable += len({problem.row for problem in problems})
        _keep(summary, [str(problem) for problem in problems])
        return None
    proba, reasons = score_frame(scorer, frame, batch_size)
    bad = [f"{w}: {r}" for w, r in zip(frame[WHERE], reasons, strict=True) if r is not None]
    summary.unscorable += len(bad)
    _keep(summary, bad)
    result = add_predictions(rows, scorer.labels, proba, reasons)
    for label, count in result[PRED_LABEL].value_counts().items():
        summary.label_counts[str(label)] += int(count)
    return result


def _refuse_unreadable(out: Path, read_problems: list[str], read_failures: int) -> None:
    """Lines that could not be read fail the whole run: nothing is written."""
    if not read_problems:
        return
    more = f" (and {read_failures - 1} more lines)" if read_failures > 1 else ""
    unlisted = [f"... and {read_failures - len(read_problems)} more"] if read_failures > len(read_problems) else []
    raise SynthgradeError(
        f"{read_problems[0]}{more}; nothing written",
        [*read_problems, *unlisted, f"{out}: nothing written ({read_failures} lines could not be read)"],
    )


def _refuse_unscorable(out: Path, summary: PredictionSummary) -> None:
    """With ``on_unscorable="fail"``, one unscorable row fails the run: nothing is written."""
    if not summary.unscorable:
        return
    more = f" (and {summary.unscorable - 1} more rows)" if summary.unscorable > 1 else ""
    extra = [f"... and {summary.unscorable - len(summary.problems)} more"] if summary.unscorable > len(summary.problems) else []
    raise SynthgradeError(
        f"{summary.problems[0]}{more}; nothing written (--on-unscorable blank writes them with an empty prediction)",
        [
            *summary.problems,
            *extra,
            f"{out}: nothing written ({summary.unscorable} unscorable rows; --on-unscorable blank keeps them)",
        ],
    )


def _keep(summary: PredictionSummary, problems: list[str]) -> None:
    room = MAX_LISTED_PROBLEMS - len(summary.problems)
    if room > 0:
        summary.problems.extend(problems[:room])
