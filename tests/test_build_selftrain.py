"""``build --unlabeled``: self-training is one more synthetic set of the grid, judged by the same rule (tiny TF-IDF builds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.build import dataset

from synthgrade.build import BuildConfig, grid, run_build
from synthgrade.build.stages import selftrain as selftrain_stage
from synthgrade.data import check_human_test, check_human_validation, generated_rows, is_synthetic
from synthgrade.errors import SynthgradeError
from synthgrade.train import selftrain as selftrain_module
from synthgrade.train.selftrain import SELF_TRAINING, choose_threshold, prepare_pool, pseudo_label

LABELS = ["correct", "incorrect"]


class FixedScorer:
    """A scorer whose probability of "correct" is the row's ``p`` column."""

    labels = LABELS

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = frame["p"].to_numpy(dtype=float)
        return np.column_stack([p, 1 - p])


def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """72 coded rows, 80 uncoded rows of the same items (labels removed) and a separate 30-row test file."""
    rows = dataset(182)
    data, pool, test = tmp_path / "coded.csv", tmp_path / "pool.csv", tmp_path / "test.csv"
    rows.iloc[:72].to_csv(data, index=False)
    rows.iloc[72:152].drop(columns=["label"]).to_csv(pool, index=False)
    rows.iloc[152:].to_csv(test, index=False)
    return data, pool, test


def quick(pool: Path, **overrides) -> BuildConfig:
    settings = {"model": "tfidf", "strategies": [], "shares": [0.5], "weights": [1.0], "bootstrap": 200, "student": "none"}
    return BuildConfig(**(settings | {"unlabeled": str(pool)} | overrides))


# -- the rules ---------------------------------------------------------------------------------------------
def test_the_threshold_is_the_most_precise_on_validation_with_enough_rows_ties_to_the_lower():
    top = np.array([0.95, 0.95, 0.95, 0.65, 0.65, 0.65, 0.65, 0.85])
    y = np.array([0, 0, 0, 1, 1, 0, 0, 0])  # the 0.65 rows are half wrong; >= 0.7 all right
    threshold, table = choose_threshold(np.column_stack([top, 1 - top]), y)
    # 0.7, 0.8 and 0.9 are all perfect on 4 rows: the lowest (most pseudo-labels) wins
    assert threshold == 0.7 and table["0.6"]["precision"] == 0.75 and table["0.8"] == {"rows": 4, "precision": 1.0}
    # only two rows reach 0.9 (below MIN_CONFIDENT): 0.9 cannot win though it is perfect
    top = np.array([0.95, 0.95, 0.65, 0.65, 0.65, 0.65])
    threshold, _ = choose_threshold(np.column_stack([top, 1 - top]), np.array([0, 0, 0, 0, 0, 1]))
    assert threshold == 0.6


def test_pseudo_labels_keep_confident_rows_capped_per_item_by_its_coded_rows():
    train = pd.DataFrame(
        {"id": ["a", "b", "c"], "text": ["x", "y", "z"], "label": LABELS + LABELS[:1], "item_id": ["s", "s", "t"]}
    )
    pool = pd.DataFrame(
        {
            "id": [f"pool:{i}" for i in range(7)],
            "text": [f"u{i}" for i in range(7)],
            "item_id": ["s", "s", "s", "t", "t", "t", "new item"],
            "p": [0.99, 0.05, 0.95, 0.9, 0.55, 0.97, 0.99],
        }
    )
    kept = pseudo_label(FixedScorer(), pool, train, LABELS, threshold=0.8, cap=1.0)
    # item s: 2 coded rows -> its 2 most confident of 3; item t: 1 coded row -> its most confident; no coded row: none
    assert kept["id"].tolist() == ["pseudo-0", "pseudo-1", "pseudo-5"]
    assert kept["label"].tolist() == ["correct", "incorrect", "correct"]
    assert kept["source_id"].tolist() == ["pool:0", "pool:1", "pool:5"]
    assert (kept["generator"] == SELF_TRAINING).all()
    assert pseudo_label(FixedScorer(), pool, train, LABELS, threshold=0.999, cap=1.0).empty  # nothing confident enough


def test_pseudo_labelled_rows_count_as_synthetic_everywhere():
    train = pd.DataFrame({"id": ["a"], "text": ["x"], "label": ["correct"], "item_id": ["s"]})
    pool = pd.DataFrame({"id": ["pool:1", "pool:2"], "text": ["u1", "u2"], "item_id": ["s", "s"], "p": [0.99, 0.02]})
    kept = pseudo_label(FixedScorer(), pool, train, LABELS, threshold=0.6, cap=2.0)
    assert len(kept) == 2 and is_synthetic(kept).all() and generated_rows(kept).all()
    # written and read back as text, the flag still holds
    again = pd.read_csv(pd.io.common.StringIO(kept.to_csv(index=False)))
    assert is_synthetic(again).all()
    with pytest.raises(SynthgradeError, match="synthetic rows"):
        check_human_validation(kept)
    with pytest.raises(SynthgradeError, match="synthetic rows"):
        check_human_test(again, "test")


def test_the_pool_leaves_out_coded_rows_and_held_out_repeats_and_refuses_a_leaking_pool():
    rows = dataset(60)
    train, val, test = rows.iloc[:30], rows.iloc[30:40], rows.iloc[40:]
    uncoded = pd.concat([rows.iloc[:5], rows.iloc[[35]].assign(id="other"), dataset(90).iloc[60:]]).drop(columns=["label"])
    pool = prepare_pool(uncoded, train, {"validation": val, "test": test})
    assert pool.left_out == {"already coded": 5, "repeats a validation text": 1}
    assert len(pool.frame) == 30 and pool.frame["id"].str.startswith("pool:").all() and "label" not in pool.frame
    with pytest.raises(SynthgradeError, match="repeat a text of the --unlabeled data"):
        prepare_pool(pd.concat([uncoded, test]).drop(columns=["label"]), train, {"validation": val, "test": test})


# -- inside the build ---------------------------------------------------------------------------------------
def test_self_training_enters_the_grid_and_a_losing_arm_ships_human_only(tmp_path: Path, monkeypatch):
    data, pool, test = files(tmp_path)
    real = selftrain_module.pseudo_label

    def flipped(*args, **kwargs):  # a teacher that is always wrong: the arm must lose and not ship
        frame = real(*args, **kwargs)
        return frame.assign(label=frame["label"].map({"correct": "incorrect", "incorrect": "correct"}))

    monkeypatch.setattr(selftrain_module, "pseudo_label", flipped)
    monkeypatch.setattr(grid, "_FOLD_PSEUDO", {})  # no fold's pseudo-labels from another test's build
    monkeypatch.setattr(selftrain_stage, "pseudo_label", flipped)
    result = run_build(data, tmp_path / "build", quick(pool), test=test)
    entry = next(s for s in result.summary["synthetic_sets"] if s["name"] == SELF_TRAINING)
    assert entry["rows"] > 0 and entry["usable_pool"] == 80 and entry["threshold"] in selftrain_module.THRESHOLDS
    cells = [c for c in result.summary["grid"] if c["set"] == SELF_TRAINING]
    assert [c["key"] for c in cells] == ["self-training-s0.5-w1"] and cells[0]["synthetic_rows"] > 0
    decision = result.decision
    assert decision["cells"] == 1 and decision["best_cell"] == "self-training-s0.5-w1"
    assert decision["evidence_rows"] > result.summary["counts"]["val"]  # validation + out-of-fold, as for every cell
    assert decision["validation_gain"] < 0 and not result.ship_synthetic and result.shipped == "human-only"
    assert result.verdict.startswith("synthetic data tested, not shipped") and "self-training-s0.5-w1" in result.verdict
    # the cell's out-of-fold predictions are cross-fitted over exactly the human training rows
    line = json.loads((tmp_path / "build" / "work" / "grid.jsonl").read_text().splitlines()[0])
    train_ids = pd.read_csv(tmp_path / "build" / "split" / "train.csv")["id"].astype(str)
    assert sorted(line["oof"]["ids"]) == sorted(train_ids)
    kept = pd.read_json(tmp_path / "build" / "work" / "synthetic" / "self-training.kept.jsonl", lines=True)
    assert is_synthetic(kept).all() and not set(kept["text"]) & set(pd.read_csv(test)["text"])


def test_a_self_training_cell_whose_gain_passes_the_bound_ships(tmp_path: Path, monkeypatch):
    from synthgrade.data import label_indices

    data, pool, test = files(tmp_path)
    rows = pd.read_csv(data)
    noisy = rows.index % 4 == 0  # a quarter of the coded labels flipped: human-only errs out of fold
    rows.loc[noisy, "label"] = rows.loc[noisy, "label"].map({"correct": "incorrect", "incorrect": "correct"})
    rows.to_csv(data, index=False)

    def perfect(task, train, val):  # a fake cell that gets every held-out training row right
        return {"ids": train["id"].astype(str).tolist(), "pred": label_indices(train, list(task.labels)).tolist()}

    monkeypatch.setattr(grid, "self_training_oof", perfect)
    result = run_build(data, tmp_path / "build", quick(pool), test=test)
    assert result.decision["lower_bound"] > 0 and result.ship_synthetic and result.shipped == "self-training-s0.5-w1"
    assert result.verdict.startswith("synthetic data shipped (self-training-s0.5-w1)")
    provenance = json.loads((tmp_path / "build" / "model" / "synthgrade.json").read_text())["provenance"]
    assert provenance["arm"] == "self-training-s0.5-w1"  # OUT/model is the cell's model


def test_the_threshold_and_pseudo_labels_never_read_the_test_rows(tmp_path: Path, monkeypatch):
    data, pool, test = files(tmp_path)
    seen = []
    real = selftrain_stage.choose_threshold
    monkeypatch.setattr(selftrain_stage, "choose_threshold", lambda proba, y: seen.append(len(y)) or real(proba, y))
    first = run_build(data, tmp_path / "a", quick(pool), test=test)
    flipped = tmp_path / "flipped.csv"
    rows = pd.read_csv(test)
    rows.assign(label=rows["label"].map({"correct": "incorrect", "incorrect": "correct"})).to_csv(flipped, index=False)
    second = run_build(data, tmp_path / "b", quick(pool), test=flipped)
    assert seen == [first.summary["counts"]["val"]] * 2  # the validation rows, nothing else
    pick = [{k: v for k, v in s.items()} for s in first.summary["synthetic_sets"]]
    assert pick == second.summary["synthetic_sets"]
    kept = "work/synthetic/self-training.kept.jsonl"
    assert (tmp_path / "a" / kept).read_bytes() == (tmp_path / "b" / kept).read_bytes()


def test_build_cli_takes_unlabeled_and_finish_passes_it():
    from synthgrade.coding.finish import build_takes_unlabeled

    assert build_takes_unlabeled()
    with pytest.raises(ValueError):
        BuildConfig(pseudo_cap=0)
