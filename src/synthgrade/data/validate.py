"""Checking a response table: every problem named with its file and row, nothing dropped silently."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from synthgrade.data.readers import Problem, RawTable, read_raw
from synthgrade.data.schema import (
    ID,
    ITEM_ID,
    ITEM_TEXT,
    LABEL,
    REFERENCE,
    TEXT,
    WHERE,
    ColumnMap,
    label_order,
)
from synthgrade.errors import SynthgradeError

DEFAULT_MAX_CHARS = 5000


@dataclass
class ValidationReport:
    """What ``validate`` found: the canonical table, fatal problems, warnings and counts."""

    path: str
    frame: pd.DataFrame
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def label_counts(self) -> dict[str, int]:
        if LABEL not in self.frame.columns:
            return {}
        counts = self.frame[LABEL].dropna().value_counts()
        return {label: int(counts.get(label, 0)) for label in self.labels}

    def item_counts(self) -> dict[str, int]:
        if ITEM_ID not in self.frame.columns:
            return {}
        return {str(k): int(v) for k, v in self.frame[ITEM_ID].dropna().value_counts().sort_index().items()}

    def summary(self) -> dict:
        return {
            "path": self.path,
            "rows": int(len(self.frame)),
            "items": len(self.item_counts()),
            "labels": self.labels,
            "label_counts": self.label_counts(),
            "errors": [str(p) for p in self.errors],
            "warnings": [str(p) for p in self.warnings],
        }


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and not value.strip()


def _as_text(value: object) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a label 1.0 read from Parquet is the label "1"
    return str(value)


def canonicalise(raw: RawTable, columns: ColumnMap, require_label: bool = True) -> tuple[pd.DataFrame, list[Problem]]:
    """Rename mapped columns to the canonical names; missing required columns are problems."""
    source = raw.frame
    name = raw.source
    problems = []
    required = [(columns.text, "text", "--text-col")]
    if require_label:
        required.append((columns.label, "label", "--label-col"))
    for column, role, option in required:
        if column not in raw.columns_present:
            have = ", ".join(c for c in raw.columns_present) or "none"
            problems.append(Problem(name, f"missing required {role} column '{column}' (columns: {have}; map it with {option})"))
    rename = {src: dst for src, dst in columns.source_to_canonical().items() if src in source.columns}
    # A metadata column that happens to carry a canonical name would collide after renaming.
    clashes = [c for c in source.columns if c in rename.values() and c not in rename]
    frame = source.drop(columns=clashes).rename(columns=rename)
    if TEXT in frame.columns:
        texts = []
        for where, value in zip(frame[WHERE], frame[TEXT], strict=True):
            if isinstance(value, str) or (_is_missing(value) and not isinstance(value, list | dict)):
                texts.append(value if isinstance(value, str) else None)
            else:  # str() would score "[1, 2]" or "42" as if someone had written it
                texts.append(None)
                problems.append(Problem(where, f"text is {_kind(value)}, not a string"))
        frame[TEXT] = pd.Series(texts, index=frame.index, dtype=object)
    for column in (LABEL, ID, ITEM_ID, ITEM_TEXT, REFERENCE):
        if column in frame.columns:
            frame[column] = pd.Series([_as_text(v) for v in frame[column]], index=frame.index, dtype=object)
    return frame, problems


def _kind(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "a boolean"
    if isinstance(value, int | float | np.number):
        return f"a number ({value})"
    if isinstance(value, list | tuple | np.ndarray):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def validate_file(
    path: str | Path,
    columns: ColumnMap | None = None,
    labels: Sequence[str] | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    require_label: bool = True,
) -> ValidationReport:
    """Read and check one file (or SemEval XML folder): the canonical frame with every problem and warning located."""
    raw = read_raw(path)
    frame, errors = canonicalise(raw, columns or ColumnMap(), require_label)
    if not len(frame):  # a header alone (or an empty JSONL file) is not a usable table, whatever its columns
        errors = [*raw.problems, Problem(raw.source, "no data rows (a header or nothing at all); there is nothing to use")]
        return ValidationReport(str(path), frame, errors, [], [])
    errors = list(raw.problems) + errors
    if errors and TEXT not in frame.columns:
        return ValidationReport(str(path), frame, errors, [], [])
    errors += _row_problems(frame, labels, max_chars, require_label, already={p.where for p in errors})
    errors += _duplicate_ids(frame)
    observed = frame[LABEL].dropna().unique() if LABEL in frame.columns else []
    warnings = _duplicate_rows(frame) + _rare_labels(frame, str(path))
    return ValidationReport(str(path), frame, errors, warnings, label_order(observed, labels))


def _rare_labels(frame: pd.DataFrame, source: str) -> list[Problem]:
    """A warning per label with a single row: it cannot reach training, validation and test alike."""
    if LABEL not in frame.columns:
        return []
    counts = frame[LABEL].dropna().astype(str).value_counts()
    return [
        Problem(source, f"label '{label}' has only one row: a split cannot put it in training and in test; add more")
        for label, count in counts.items()
        if count == 1
    ]


def _row_problems(
    frame: pd.DataFrame, labels: Sequence[str] | None, max_chars: int, require_label: bool, already: set[str]
) -> list[Problem]:
    """Empty or over-long texts, missing labels and labels outside ``labels``; ``already``: rows whose text is refused."""
    problems = []
    allowed = set(labels) if labels else None
    for where, text, label in zip(
        frame[WHERE],
        frame[TEXT] if TEXT in frame.columns else [None] * len(frame),
        frame[LABEL] if LABEL in frame.columns else [None] * len(frame),
        strict=True,
    ):
        if _is_missing(text):
            if where not in already:
                problems.append(Problem(where, "empty or whitespace-only text"))
        elif len(text) > max_chars:
            problems.append(Problem(where, f"text has {len(text)} characters, over the limit of {max_chars}"))
        if LABEL in frame.columns:
            if _is_missing(label):
                if require_label:
                    problems.append(Problem(where, "missing label"))
            elif allowed is not None and label not in allowed:
                problems.append(Problem(where, f"label '{label}' is not one of the declared labels {','.join(labels)}"))
    return problems


def _duplicate_rows(frame: pd.DataFrame) -> list[Problem]:
    """A warning for each row that repeats an earlier one in every column but its id and location."""
    content = [c for c in frame.columns if c not in (ID, WHERE)]
    duplicated = frame.duplicated(subset=content, keep="first") if len(frame) else pd.Series([], dtype=bool)
    warnings, first_seen = [], {}
    for where, key, is_dup in zip(frame[WHERE], map(tuple, frame[content].astype(str).values), duplicated, strict=True):
        if is_dup:
            warnings.append(Problem(where, f"exact duplicate of {first_seen[key]}"))
        else:
            first_seen.setdefault(key, where)
    return warnings


def _duplicate_ids(frame: pd.DataFrame) -> list[Problem]:
    if ID not in frame.columns:
        return []
    dup_ids = frame[ID].notna() & frame[ID].duplicated(keep=False)
    return [
        Problem(where, f"id '{value}' is used by more than one row")
        for where, value in zip(frame.loc[dup_ids, WHERE], frame.loc[dup_ids, ID], strict=True)
    ]


def load_responses(
    path: str | Path,
    columns: ColumnMap | None = None,
    labels: Sequence[str] | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    require_label: bool = True,
) -> pd.DataFrame:
    """Read a response table ready for the pipeline, or raise listing every problem.

    The result has the canonical columns that the source provides (``text``, ``label`` and, when
    present, ``id``, ``item_id``, ``item_text``, ``reference``), metadata columns, and the private
    ``_where`` column. Rows without an id get one from their location, so ids are always present.
    """
    report = validate_file(path, columns, labels, max_chars, require_label)
    if report.errors:
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more problems)" if len(report.errors) > 1 else ""
        raise SynthgradeError(f"{first}{more}", [str(p) for p in report.errors])
    frame = report.frame
    if ID not in frame.columns:
        frame.insert(0, ID, [w.replace(" line ", ":").replace(" row ", ":") for w in frame[WHERE]])
    else:
        missing = frame[ID].isna()
        frame.loc[missing, ID] = [w.replace(" line ", ":").replace(" row ", ":") for w in frame.loc[missing, WHERE]]
    frame.attrs["labels"] = report.labels
    return frame.reset_index(drop=True)
