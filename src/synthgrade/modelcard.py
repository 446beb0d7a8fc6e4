"""The model card: a README.md beside every saved model, written from its ``synthgrade.json``.

It says what the model was trained on (human and synthetic row counts, generator, temperature, filter),
how it was built (base model, teacher/student, export), how well it did on which human-coded test set
(metrics with confidence intervals and the test set's hash) and what it is and is not for. Only
``ModelInfo`` fields are read, so the card never holds anything the metadata does not (no API keys:
keys that look like secrets are dropped on the way).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from synthgrade.io import write_text_atomic

CARD_FILE = "README.md"
HEADLINE = ("accuracy", "macro_f1", "kappa", "qwk", "auc")
SECRET_WORDS = ("api_key", "apikey", "token", "secret", "password", "authorization")


def is_secret_key(key: str) -> bool:
    lowered = str(key).lower().replace("-", "_")
    return any(word in lowered for word in SECRET_WORDS)


def redact(value: Any) -> Any:
    """A copy without entries whose key names a secret (used for the card and the HTTP /model endpoint)."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if not is_secret_key(k)}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _fmt_number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "-" if value != value else f"{value:.{digits}f}"
    return str(value)


def _metric_cell(entry: Any) -> tuple[str, str]:
    if isinstance(entry, dict):
        value = _fmt_number(entry.get("value"))
        low, high = entry.get("ci_low"), entry.get("ci_high")
        ci = f"[{_fmt_number(low)}, {_fmt_number(high)}]" if low is not None and high is not None else "-"
        return value, ci
    return _fmt_number(entry), "-"


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def _data_section(info: Any) -> list[str]:
    provenance = redact(info.provenance or {})
    mix = provenance.get("mix") if isinstance(provenance.get("mix"), dict) else {}
    human = provenance.get("train_human_rows", mix.get("human_rows"))
    synthetic = provenance.get("train_synthetic_rows", mix.get("synthetic_rows"))
    lines = ["## Training data", ""]
    if human is None and synthetic is None and not provenance.get("train_rows"):
        lines += ["Not recorded (this model was saved without training provenance).", ""]
        return lines
    rows = [
        ("human-coded rows", _fmt_number(human)),
        ("synthetic rows", _fmt_number(synthetic)),
        ("total training rows", _fmt_number(provenance.get("train_rows"))),
        ("validation rows (human, used for early stopping / selection only)", _fmt_number(provenance.get("val_rows"))),
    ]
    if mix:
        rows += [(f"mix {key}", _fmt_number(mix.get(key))) for key in ("mode", "ratio", "human_budget", "seed") if key in mix]
    if provenance.get("train_hash"):
        rows.append(("training set hash", f"`{provenance['train_hash']}`"))
    lines += _table(("", "value"), rows) + [""]
    sources = provenance.get("synthetic_sources") or mix.get("synthetic_sources") or []
    if sources:
        lines += ["Synthetic data sources (generator, sampling temperature, filter):", ""]
        source_rows = []
        for source in sources:
            filt = source.get("filter_method") or ("yes" if source.get("filtered") else "none")
            source_rows.append(
                (
                    source.get("backend") or "-",
                    source.get("model") or "-",
                    _fmt_number(source.get("temperature"), 2),
                    _fmt_number(source.get("top_p"), 2),
                    filt,
                    _fmt_number(source.get("rows")),
                )
            )
        lines += _table(("backend", "generator model", "temperature", "top_p", "filter", "rows"), source_rows) + [""]
    elif synthetic:
        lines += ["The synthetic rows carry no generator provenance.", ""]
    else:
        lines += ["No synthetic rows: trained on human-coded data only.", ""]
    return lines


def _lineage_section(info: Any) -> list[str]:
    provenance = redact(info.provenance or {})
    rows = [("kind", info.kind), ("base model", info.base_model or "-"), ("parameters", _fmt_number(info.parameters))]
    rows += [("input", "item context + response pairs" if info.input_mode == "pair" else "response text only")]
    rows += [("max length (tokens)", str(info.max_length)), ("labels (in order)", ", ".join(info.labels))]
    if info.ordinal:
        rows.append(("ordinal labels", "yes"))
    teacher = provenance.get("teacher")
    if teacher:
        if isinstance(teacher, dict):
            described = ", ".join(
                f"{k} {v}" for k, v in teacher.items() if isinstance(v, str | int | float) and not isinstance(v, bool)
            )
        else:
            described = str(teacher)
        rows.append(("role", "student distilled from a teacher"))
        rows.append(("teacher", described or "recorded"))
    student = provenance.get("student")
    if student:
        rows.append(("student", str(student)))
    export = provenance.get("export")
    if isinstance(export, dict):
        rows.append(("exported from", f"{export.get('source') or '-'} (kind {export.get('source_kind')})"))
        rows.append(("ONNX", f"{export.get('exporter')} exporter, {'dynamic int8' if export.get('int8') else 'fp32'}"))
        parity = export.get("parity") or {}
        if parity:
            rows.append(
                (
                    "parity with source",
                    f"max |Δp| {_fmt_number(parity.get('max_abs_diff'), 5)}, "
                    f"label agreement {_fmt_number(parity.get('agreement'))} on {parity.get('n')} sample inputs",
                )
            )
    if info.item_bank:
        rows.append(("item bank", f"{len(info.item_bank):,} items (score new responses by item_id)"))
    return ["## Model", ""] + _table(("", "value"), rows) + [""]


def _training_section(info: Any) -> list[str]:
    training = redact(info.training or {})
    if not training:
        return []
    lines = ["## Training", ""]
    arguments = training.get("arguments") or {}
    if arguments:
        shown = {k: v for k, v in arguments.items() if isinstance(v, str | int | float | bool) or v is None}
        lines += [", ".join(f"{k}={v}" for k, v in shown.items()), ""]
    validation = training.get("validation") or {}
    if validation:
        rows = [(name, *_metric_cell(validation[name])) for name in HEADLINE if name in validation]
        if rows:
            lines += ["Validation (human-coded, used only for early stopping and model selection; not a test result):", ""]
            lines += _table(("metric", "value", "95% CI"), rows) + [""]
    auto = training.get("auto") or {}
    if auto:
        lines += [
            "### Model choice (`--model auto`)",
            "",
            f"Chosen: **{auto.get('chosen')}**. {auto.get('reason', '')}",
            "",
            f"Candidates (validation: {_fmt_number(auto.get('val_rows'))} human rows; "
            f"time budget {_fmt_number(auto.get('time_budget_s'), 0)} s):",
            "",
        ]
        board = [
            (
                row.get("model"),
                _fmt_number(row.get("val_macro_f1")),
                _fmt_number(row.get("cv_macro_f1")),
                _fmt_number(row.get("selection_score")),
                _fmt_number(row.get("seconds"), 1),
                row.get("skipped") or ("tied with best" if row.get("tied_with_best") else ""),
            )
            for row in auto.get("leaderboard", [])
        ]
        lines += _table(("candidate", "val macro-F1", "CV macro-F1", "selection score", "seconds", "note"), board) + [""]
    return lines


def _evaluation_section(info: Any) -> list[str]:
    lines = ["## Evaluation", ""]
    if not info.evaluations:
        return lines + ["No test-set evaluation recorded yet: run `synthgrade evaluate MODEL TEST_FILE`.", ""]
    for entry in redact(info.evaluations):
        title = f"Test set `{entry.get('test', '?')}` (hash `{entry.get('test_hash', '?')}`, n = {_fmt_number(entry.get('n'))}"
        if entry.get("bootstrap"):
            title += f", {entry['bootstrap']} bootstrap resamples"
        title += ")" + (f", {entry['date']}" if entry.get("date") else "")
        lines += [title, ""]
        metrics = entry.get("metrics") or {k: entry[k] for k in HEADLINE if k in entry}
        rows = [(name, *_metric_cell(metrics[name])) for name in HEADLINE if name in metrics]
        lines += _table(("metric", "value", "95% CI"), rows) + [""]
        if entry.get("compare") and entry.get("diff"):
            diff_rows = [(name, *_metric_cell(d)) for name, d in entry["diff"].items()]
            lines += (
                [f"Difference against `{entry['compare']}`:", ""] + _table(("metric", "difference", "95% CI"), diff_rows) + [""]
            )
    return lines


INTENDED_USE = """## Intended use and limits

- Intended for: scoring short open responses to the items and rubric this model was trained on, as a
  second reader or a triage step alongside human coders, with the labels listed above.
- Check first: performance on new items, populations, languages or response lengths has not been
  measured unless an evaluation above says so; score a human-coded sample of your own data before use.
- Synthetic rows were written by a language model and can carry its biases and blind spots; the human
  and synthetic counts above say how much of the training signal is synthetic.
- Not for: high-stakes decisions about individual students without human review; feedback text (the
  model only chooses a label); responses longer than the maximum length (they are truncated).
"""


def render_model_card(info: Any) -> str:
    """The card as Markdown text."""
    title = info.base_model or info.kind
    lines = [
        f"# synthgrade scorer: {title}",
        "",
        f"A `{info.kind}` response scorer built with synthgrade. Labels: {', '.join(f'`{label}`' for label in info.labels)}.",
        "Load it with `synthgrade.modeling.load_scorer(path)` or use `synthgrade predict`, `synthgrade serve`.",
        "",
    ]
    lines += _lineage_section(info)
    lines += _data_section(info)
    lines += _training_section(info)
    lines += _evaluation_section(info)
    return "\n".join(lines) + "\n" + INTENDED_USE


def write_model_card(directory: str | Path, info: Any) -> Path:
    """Write ``README.md`` into ``directory`` from a :class:`synthgrade.modeling.ModelInfo`."""
    path = Path(directory) / CARD_FILE
    write_text_atomic(path, render_model_card(info))
    return path
