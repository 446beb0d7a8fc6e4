"""The human-coded rows of a build: validated, split, and the test rows set aside for the final evaluation only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from synthgrade.build.config import BuildConfig
from synthgrade.build.layout import BuildLayout
from synthgrade.console import console
from synthgrade.data import ColumnMap, check_human_test, load_responses
from synthgrade.data.schema import LABEL, label_order
from synthgrade.data.split import split_responses, write_splits
from synthgrade.errors import SynthgradeError
from synthgrade.io import stable_hash
from synthgrade.metrics import degenerate_test_warnings
from synthgrade.train.selftrain import Pool, prepare_pool


@dataclass
class BuildData:
    """Human-coded rows of one build: training, validation (selection only) and named test sets (reporting only)."""

    train: pd.DataFrame
    val: pd.DataFrame
    tests: dict[str, pd.DataFrame]
    labels: list[str]
    source: str = ""
    #: uncoded responses (``--unlabeled``) for self-training and the student's transfer set
    unlabeled: Pool | None = None

    def fingerprint(self) -> str:
        from synthgrade.data import frame_hash

        parts = [self.labels, frame_hash(self.train), frame_hash(self.val), {k: frame_hash(v) for k, v in self.tests.items()}]
        if self.unlabeled is not None:  # a build without a pool keeps its key
            parts.append(frame_hash(self.unlabeled.frame))
        return stable_hash(parts)


def load_build_data(
    data: str | Path, config: BuildConfig, columns: ColumnMap | None = None, test: str | Path | None = None
) -> BuildData:
    """Validate ``data`` (errors name file and row) and split it; ``test`` replaces the held-out share."""
    frame = load_responses(data, columns, config.labels)
    labels = label_order(frame[LABEL].dropna().astype(str), config.labels)
    if len(labels) < 2:
        raise SynthgradeError(f"{data}: build needs at least two labels, the data has {labels}")
    test_share = 0.0 if test is not None else config.test
    if test is None and test_share <= 0:
        raise SynthgradeError("the test share is 0 and no test file is given: nothing to evaluate on")
    fractions = (1.0 - config.val - test_share, config.val, test_share)
    splits = split_responses(frame, seed=config.seed, by=config.split_by, fractions=fractions)
    tests = {"test": splits["test"]} if test is None else {Path(test).stem: _load_test(test, frame, labels, columns)}
    for name, part in (("train", splits["train"]), ("val", splits["val"]), *tests.items()):
        if part.empty:
            raise SynthgradeError(f"{data}: the {name} split is empty ({len(frame)} rows); the data is too small to build from")
    for name, part in tests.items():
        check_human_test(part, name)
        for warning in degenerate_test_warnings(part[LABEL].astype(str).tolist(), name):
            console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    for part in (splits["train"], splits["val"], *tests.values()):
        part.attrs["labels"] = labels
    pool = None
    if config.unlabeled is not None:
        uncoded = load_responses(config.unlabeled, columns, None, require_label=False)
        pool = prepare_pool(uncoded, splits["train"], {"validation": splits["val"], **tests})
    return BuildData(splits["train"], splits["val"], tests, labels, source=str(data), unlabeled=pool)


def _load_test(test: str | Path, data: pd.DataFrame, labels: list[str], columns: ColumnMap | None) -> pd.DataFrame:
    """``--test FILE``, refused before anything is written when it has a label the data lacks (read against the
    data's labels) or repeats data rows (the leakage guard)."""
    from synthgrade.data import check_disjoint

    frame = load_responses(test, columns, labels)
    check_human_test(frame, Path(test).stem)
    check_disjoint(data, frame, names=("input", "--test"))
    return frame


def write_split(bd: BuildData, layout: BuildLayout, config: BuildConfig) -> None:
    """``OUT/split/``: the rows every stage (and every executor's worker) reads, with their manifest."""
    parts = {"train": bd.train, "val": bd.val, "test": pd.concat(list(bd.tests.values()), ignore_index=True)}
    fractions = (1.0 - config.val - config.test, config.val, config.test)
    source = bd.source if bd.source and Path(bd.source).is_file() else None
    write_splits(parts, layout.split_dir, config.seed, config.split_by, fractions, source=source, labels=bd.labels)
