"""Data-integrity rules: one answer to "is this row synthetic?" everywhere, label positions, guards, hashes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthgrade.data import (
    check_disjoint,
    check_human_test,
    check_human_validation,
    frame_hash,
    is_synthetic,
    is_synthetic_value,
    label_indices,
    load_responses,
    split_responses,
    write_table,
)
from synthgrade.errors import SynthgradeError
from synthgrade.mix import mix_training_set

TRUE = [True, np.bool_(True), 1, 1.0, np.int64(2), "true", "True", " TRUE ", "1", "yes", "Yes"]
FALSE = [False, np.bool_(False), 0, 0.0, "false", "False", "FALSE", "0", "no", "", "  ", None, math.nan, np.nan, pd.NA, [1]]


@pytest.mark.parametrize("value", TRUE, ids=repr)
def test_values_that_mark_a_row_synthetic(value) -> None:
    assert is_synthetic_value(value) is True


@pytest.mark.parametrize("value", FALSE, ids=repr)
def test_values_that_do_not_mark_a_row_synthetic(value) -> None:
    assert is_synthetic_value(value) is False


def test_mask_follows_the_value_rule_and_a_missing_column_means_human() -> None:
    frame = pd.DataFrame({"synthetic": ["true", "false", "0", "1", "", None, math.nan, True, False]})
    assert is_synthetic(frame).tolist() == [True, False, False, True, False, False, False, True, False]
    assert is_synthetic(frame).dtype == bool
    assert is_synthetic(pd.DataFrame({"text": ["a", "b"]}, index=[5, 7])).tolist() == [False, False]
    assert is_synthetic(pd.DataFrame({"text": ["a", "b"]}, index=[5, 7])).index.tolist() == [5, 7]
    assert is_synthetic(pd.DataFrame({"synthetic": [1.0, math.nan]})).tolist() == [True, False]


def test_a_csv_round_trip_keeps_the_flag(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"id": ["h1", "s1", "h2"], "text": ["a", "b", "c"], "label": ["x", "y", "x"], "synthetic": [False, True, False]}
    )
    path = tmp_path / "mixed.csv"
    write_table(frame, path)
    back = load_responses(path)
    assert is_synthetic(back).tolist() == [False, True, False]


def _human(flag: object, n: int = 12) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "text": [f"answer {i}" for i in range(n)],
            "label": ["a", "b"] * (n // 2),
            "item_id": [f"q{i % 3}" for i in range(n)],
            "synthetic": [flag] * n,
        }
    )


GUARDS = {
    "mix": lambda frame: mix_training_set(frame, None),
    "split": lambda frame: split_responses(frame, seed=0),
    "validation": check_human_validation,
    "test": check_human_test,
}


@pytest.mark.parametrize("guard", GUARDS)
@pytest.mark.parametrize("flag", ["false", "0", "", None, False])
def test_every_human_only_guard_accepts_the_same_false_flags(guard: str, flag: object) -> None:
    GUARDS[guard](_human(flag))


@pytest.mark.parametrize("guard", GUARDS)
@pytest.mark.parametrize("flag", ["true", "1", True])
def test_every_human_only_guard_refuses_the_same_true_flags(guard: str, flag: object) -> None:
    frame = _human(False)
    frame["synthetic"] = frame["synthetic"].astype(object)
    frame.loc[3, "synthetic"] = flag
    with pytest.raises(SynthgradeError, match="synthetic rows"):
        GUARDS[guard](frame)


def test_generation_and_filter_guards_use_the_same_rule() -> None:
    from synthgrade.filter import FilterConfig, filter_synthetic
    from synthgrade.generate.core import _check_train

    _check_train(_human("false"))
    with pytest.raises(SynthgradeError, match="synthetic rows"):
        _check_train(_human("true"))
    rows = _human(True, 2)
    with pytest.raises(SynthgradeError, match="synthetic rows"):
        filter_synthetic(rows, FilterConfig(method="neighbours"), _human("yes"), show_progress=False)


def test_test_guard_is_as_strict_as_the_validation_guard() -> None:
    generated = _human(False).assign(prompt_hash=[""] * 11 + ["abc"])
    for guard, name in ((check_human_validation, "validation"), (check_human_test, "test")):
        with pytest.raises(SynthgradeError, match=f"the {name} data contains 1 synthetic rows"):
            guard(generated)
        with pytest.raises(SynthgradeError, match=f"the {name} data has no rows"):
            guard(_human(False).iloc[0:0])
    check_human_test(_human(False).assign(prompt_hash=[""] * 6 + [None] * 6))


def test_label_indices_disjoint_and_hash() -> None:
    frame = pd.DataFrame({"id": ["1", "2", "3"], "text": ["a", "b", "c"], "label": ["y", "x", None]})
    assert label_indices(frame, ["x", "y"], allow_missing=True).tolist() == [1, 0, -1]
    with pytest.raises(SynthgradeError, match="row 3: missing label"):
        label_indices(frame, ["x", "y"])
    with pytest.raises(SynthgradeError, match="label 'y' is not one of the model's labels x, z"):
        label_indices(frame, ["x", "z"], allow_missing=True)
    assert label_indices(frame.drop(columns="label"), ["x"], allow_missing=True).tolist() == [-1, -1, -1]
    check_disjoint(frame, frame.assign(id=["4", "5", "6"], text=["d", "e", "f"]))
    with pytest.raises(SynthgradeError, match="3 of the 3 validation rows repeat a text of the training data"):
        check_disjoint(frame, frame.assign(id=["4", "5", "6"], text=["A.", " b", "C!"]))  # renamed ids, same texts
    with pytest.raises(SynthgradeError, match="2 row ids are in both the training and validation data \\(e.g. '2'\\)"):
        check_disjoint(frame, frame.iloc[1:])
    assert frame_hash(frame) == frame_hash(frame.assign(extra=[1, 2, 3]))  # only public columns count
    assert frame_hash(frame) != frame_hash(frame.iloc[::-1])  # row order does
