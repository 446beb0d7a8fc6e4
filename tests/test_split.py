"""Split determinism, stratification, unseen items, and the manifest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synthgrade.data import load_responses, split_responses, write_splits
from synthgrade.errors import SynthgradeError
from synthgrade.io import sha256_file


def _toy(n_items: int = 6, per_label: int = 10) -> pd.DataFrame:
    rows = []
    for item in range(n_items):
        for label in ("a", "b"):
            for k in range(per_label + (item if label == "a" else 0)):
                rows.append({"id": f"{item}-{label}-{k}", "text": f"t{item}{label}{k}", "label": label, "item_id": f"q{item}"})
    return pd.DataFrame(rows)


def test_same_seed_same_split_other_seed_differs() -> None:
    frame = _toy()
    first = split_responses(frame, seed=3)
    again = split_responses(frame, seed=3)
    other = split_responses(frame, seed=4)
    for name in ("train", "val", "test"):
        assert first[name]["id"].tolist() == again[name]["id"].tolist()
    assert set(first["test"]["id"]) != set(other["test"]["id"])


def test_within_items_split_is_stratified_by_item_and_label() -> None:
    frame = _toy()
    parts = split_responses(frame, seed=0, fractions=(0.6, 0.2, 0.2))
    assert sum(len(p) for p in parts.values()) == len(frame)
    assert set().union(*(set(p["id"]) for p in parts.values())) == set(frame["id"])
    for (item, label), group in frame.groupby(["item_id", "label"]):
        for name, share in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
            part = parts[name]
            got = ((part["item_id"] == item) & (part["label"] == label)).sum()
            assert abs(got - share * len(group)) <= 1, (item, label, name)


def test_by_item_keeps_items_disjoint() -> None:
    frame = _toy(n_items=12)
    parts = split_responses(frame, seed=1, by="item")
    items = [set(p["item_id"]) for p in parts.values()]
    assert all(items)
    assert not (items[0] & items[1] or items[0] & items[2] or items[1] & items[2])


def test_split_refuses_synthetic_rows() -> None:
    frame = _toy().assign(synthetic=False)
    frame.loc[0, "synthetic"] = True
    with pytest.raises(SynthgradeError, match="human-coded rows only"):
        split_responses(frame)


def test_manifest_records_seed_sizes_counts_and_hashes(tmp_path: Path, fixtures: Path) -> None:
    frame = load_responses(fixtures / "civics.csv")
    parts = split_responses(frame, seed=5)
    manifest = write_splits(parts, tmp_path, 5, "answer", (0.7, 0.15, 0.15), source=fixtures / "civics.csv")
    assert manifest["seed"] == 5
    assert sum(s["rows"] for s in manifest["splits"].values()) == 24
    for name, info in manifest["splits"].items():
        assert info["sha256"] == sha256_file(tmp_path / f"{name}.csv")
        assert sum(info["label_counts"].values()) == info["rows"]
    assert manifest["source_hash"] == sha256_file(fixtures / "civics.csv")


@pytest.mark.parametrize(
    ("frame", "by", "message"),
    [
        (_toy().drop(columns="item_id"), "item", "by item needs an item column (map it with --item-col)"),
        (_toy(n_items=2), "item", "by item needs at least 3 items, the data has 2"),
        (_toy(), "row", "by must be 'answer' or 'item', got 'row'"),
    ],
)
def test_bad_split_requests_name_the_parameter(frame: pd.DataFrame, by: str, message: str) -> None:
    from synthgrade.errors import ParameterError

    with pytest.raises(ParameterError) as caught:
        split_responses(frame, by=by)
    assert caught.value.param == "by" and str(caught.value) == message


def test_the_split_command_names_its_flag(tmp_path: Path, cli) -> None:
    path = tmp_path / "data.csv"
    _toy(n_items=2).to_csv(path, index=False)
    result = cli("split", str(path), "--out", str(tmp_path / "out"), "--by", "item")
    assert result.returncode == 2 and "--by item needs at least 3 items, the data has 2" in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_a_label_listed_twice_names_the_labels_parameter() -> None:
    from synthgrade.data import parse_label_list
    from synthgrade.errors import ParameterError

    with pytest.raises(ParameterError, match="^labels lists a label twice: 'a,b,a'$"):
        parse_label_list("a,b,a")
