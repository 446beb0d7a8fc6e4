"""The coding project without a browser: the store's transactions, undo and conflicts, blind double coding,
agreement figures, the cheap model in the loop, and the build command Finish runs."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthgrade.coding import CodingStore, Conflict, Settings, open_project
from synthgrade.coding.agreement import agreement_summary
from synthgrade.coding.finish import build_command
from synthgrade.coding.model import fit_round, suspects_from_proba
from synthgrade.coding.plot import curve_svg, learning_sentence
from synthgrade.errors import SynthgradeError
from synthgrade.select import DEFAULT_STRATEGY

LABELS = ("yes", "no")


def pool_frame(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "text": [("it is alive and grows" if i % 2 else "it is a rock that never changes") + f" {i}" for i in range(n)],
            "item_id": ["alive" if i < n // 2 else "grow" for i in range(n)],
            "item_text": ["Is it alive?"] * n,
            "reference": ["alive things grow"] * n,
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> CodingStore:
    store = CodingStore(tmp_path / "project")
    store.open(pool_frame(), Settings(LABELS))
    return store


def test_a_label_is_one_row_per_response_and_coder_and_undo_walks_back(store: CodingStore):
    first = store.next_for("ann")
    assert store.next_for("ann")["id"] == first["id"]  # shown again until answered (a reload continues there)
    store.label(first["id"], "ann", "yes")
    with pytest.raises(Conflict):  # a second tab that still shows the response as uncoded
        store.label(first["id"], "ann", "no", base=None)
    store.label(first["id"], "ann", "no", base="yes", note="changed my mind")
    codes = store.codes()
    assert codes[["id", "coder", "label", "note"]].values.tolist() == [[first["id"], "ann", "no", "changed my mind"]]
    assert store.undo("ann") == first["id"]
    assert store.codes()["label"].tolist() == ["yes"]
    assert store.undo("ann") == first["id"]
    assert store.codes().empty
    assert store.undo("ann") is None
    assert store.next_for("ann")["id"] == first["id"]  # an undone response is shown again


def test_coded_file_follows_every_change_with_the_schema_build_reads(store: CodingStore):
    shown = store.next_for("ann")
    store.label(shown["id"], "ann", "yes", note="clear")
    with open(store.project / "coded.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:6] == ["id", "text", "label", "item_id", "item_text", "reference"]
    assert [(r["id"], r["label"], r["coders"], r["note"]) for r in rows] == [(shown["id"], "yes", "ann=yes", "ann: clear")]
    store.undo("ann")
    assert (store.project / "coded.csv").read_text().strip().count("\n") == 0  # header only


def test_a_skip_moves_on_and_two_coders_are_not_handed_the_same_response(store: CodingStore):
    ann = store.next_for("ann")
    bob = store.next_for("bob")
    assert ann["id"] != bob["id"]
    store.skip(ann["id"], "ann")
    assert store.next_for("ann")["id"] not in {ann["id"], bob["id"]}


def test_double_coding_is_blind_and_disagreements_wait_for_a_resolution(tmp_path: Path):
    store = CodingStore(tmp_path / "project")
    store.open(pool_frame(4), Settings(LABELS, double=1.0))
    for _ in range(4):
        shown = store.next_for("ann")
        store.label(shown["id"], "ann", "yes")
    store.store_model_results(4, None, [(f"r{i}", "yes", 0.9) for i in range(4)], [], None)
    second = store.next_for("bob")
    assert second["second_coder"] and second["label"] is None and second["suggestion"] is None
    store.label(second["id"], "bob", "no")
    coded, disagreements = store.final_rows()
    assert second["id"] not in set(coded["id"]) and disagreements["id"].tolist() == [second["id"]]
    store.resolve(second["id"], "carol", "no", "disagreement")
    coded, disagreements = store.final_rows()
    assert coded.set_index("id").loc[second["id"], "label"] == "no" and disagreements.empty
    assert sorted(store.codes().query("id == @second['id']")["label"]) == ["no", "yes"]  # both originals kept


def test_agreement_matches_sklearn_and_is_empty_where_kappa_is_undefined():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    first = rng.choice(["a", "b", "c"], 40).tolist()
    second = [label if rng.random() < 0.7 else str(rng.choice(["a", "b", "c"])) for label in first]
    codes = [(f"r{i}", "ann", first[i], "x" if i < 20 else None) for i in range(40)]
    codes += [(f"r{i}", "bob", second[i], "x" if i < 20 else None) for i in range(40)]
    summary = agreement_summary(codes, ["a", "b", "c"])
    assert summary["overall"]["kappa"] == pytest.approx(cohen_kappa_score(first, second))
    assert summary["per_item"]["x"]["kappa"] == pytest.approx(cohen_kappa_score(first[:20], second[:20]))
    assert summary["overall"]["percent_agreement"] == pytest.approx(100 * np.mean(np.array(first) == np.array(second)))
    same = agreement_summary(
        [("r1", "ann", "a", None), ("r1", "bob", "a", None), ("r2", "ann", "a", None), ("r2", "bob", "a", None)], ["a", "b"]
    )
    assert same["overall"] == {"n": 2, "percent_agreement": 100.0, "kappa": None}


def test_reopening_with_other_settings_or_another_text_under_an_id_is_refused(store: CodingStore):
    with pytest.raises(SynthgradeError, match="labels"):
        store.open(pool_frame(), Settings(("yes", "no", "maybe")))
    changed = pool_frame()
    changed.loc[0, "text"] = "something else"
    with pytest.raises(SynthgradeError, match="another text"):
        store.open(changed, Settings(LABELS))


def test_open_project_imports_coded_rows_and_takes_their_labels(tmp_path: Path):
    pool = tmp_path / "pool.csv"
    pool_frame(6).to_csv(pool, index=False)
    coded = tmp_path / "coded.csv"
    pool_frame(2).assign(label=["yes", "no"]).to_csv(coded, index=False)
    store, counts = open_project(pool, tmp_path / "project", coded=coded)
    assert counts == {"added": 6, "imported": 2} and store.settings().labels == ("no", "yes")
    assert sorted(store.final_rows()[0]["id"]) == ["r0", "r1"]
    with pytest.raises(SynthgradeError, match="--labels|labels"):
        open_project(pool, tmp_path / "other")


def test_the_model_round_suggests_ranks_and_estimates_out_of_fold(tiny_encoder: Path):
    frame = pool_frame(40)
    coded = frame.iloc[:24].assign(label=["yes" if i % 2 else "no" for i in range(24)])
    uncoded = frame.iloc[24:]
    result = fit_round(coded, uncoded, LABELS, queue_size=5, bootstrap=200, encoder=str(tiny_encoder))
    assert result.selector == f"select ({DEFAULT_STRATEGY})" and result.notes == []
    assert result.n == 24 and result.curve["value"] > 0.9  # the words separate the labels perfectly
    assert result.curve["ci_low"] <= result.curve["value"] <= result.curve["ci_high"]
    suggested = {rid: label for rid, label, _ in result.suggestions}
    queued = [rid for rid, _, _ in result.queue]
    assert len(queued) == 5 == len(set(queued)) and set(queued) <= set(uncoded["id"])
    assert set(suggested) == set(uncoded["id"]) and {suggested[rid] for rid in queued} <= set(LABELS)
    # Outside select's picks the cheap scorer suggests, and the words separate the labels.
    assert all(suggested[f"r{i}"] == ("yes" if i % 2 else "no") for i in range(24, 40) if f"r{i}" not in queued)


def test_suspects_are_the_rows_the_out_of_fold_model_contradicts():
    coded = pool_frame(8).assign(label=["yes", "no", "yes", "no", "yes", "yes", "no", "no"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.8, 0.2], [0.1, 0.9], [0.9, 0.1], [0.05, 0.95], [0.3, 0.7], [0.15, 0.85]])
    found = suspects_from_proba(coded, proba, LABELS)  # proba columns follow LABELS: yes, no
    assert [row[0] for row in found] == ["r5"]
    assert found[0][2:] == ("yes", "no", 0.95, 0.05)


def test_the_learning_sentence_says_whether_coding_still_pays_and_the_curve_draws_it():
    rising = pd.DataFrame(
        {"n": [10, 20, 40], "macro_f1": [0.5, 0.6, 0.75], "ci_low": [0.3, 0.4, 0.6], "ci_high": [0.7, 0.8, 0.9]}
    )
    flat = pd.DataFrame(
        {"n": [100, 280, 400], "macro_f1": [0.5, 0.80, 0.801], "ci_low": [0.4, 0.76, 0.76], "ci_high": [0.6, 0.84, 0.84]}
    )
    noisy = pd.DataFrame(  # a dip at 17 coded rows, interval +-0.20: noise, not a plateau
        {"n": [8, 12, 17], "macro_f1": [0.62, 0.66, 0.58], "ci_low": [0.2, 0.4, 0.38], "ci_high": [0.8, 0.84, 0.78]}
    )
    assert "still raising" in learning_sentence(rising)
    assert "no longer clearly raising" in learning_sentence(flat) and "Finish" in learning_sentence(flat)
    assert "within the noise; keep coding" in learning_sentence(noisy) and "Finish" not in learning_sentence(noisy)
    assert "needs a few more" in learning_sentence(rising.iloc[:1])
    svg = curve_svg(rising)
    assert svg.count("<circle") == 3 and "<polygon" in svg


def test_finish_runs_the_build_command_on_the_coded_file(tmp_path: Path):
    command = build_command(tmp_path, ["--model", "tfidf"], tmp_path / "uncoded.csv")
    assert command[:4] == [sys.executable, "-m", "synthgrade.cli", "build"]
    assert command[4] == str(tmp_path / "coded.csv") and command[command.index("--out") + 1] == str(tmp_path / "build")
    assert command[command.index("--unlabeled") + 1] == str(tmp_path / "uncoded.csv") and command[-2:] == ["--model", "tfidf"]
    assert "--unlabeled" not in build_command(tmp_path, [], None)
