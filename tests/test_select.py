"""select: which responses to code next (strategies on controlled embeddings, select_rows on a tiny encoder) and
audit: which coded labels look wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthgrade import embed
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.select import DEFAULT_STRATEGY, OUTPUT_COLUMNS, STRATEGIES, select_rows
from synthgrade.select.audit import find_suspects, precision_at_k
from synthgrade.select.strategies import SelectionPool, item_quotas

GOOD = ["the water evaporates and leaves the salt", "heat it so the water evaporates", "evaporate the water, salt stays"]
BAD = ["stir it with a spoon", "pour it through a filter", "i do not know"]


def responses(prefix: str, n: int, start: int = 0, items: tuple[str, ...] = ("q1",)) -> pd.DataFrame:
    out = []
    for i in range(start, start + n):
        good = i % 2 == 0
        out.append(
            {
                "id": f"{prefix}{i}",
                "text": (GOOD if good else BAD)[i % 3] + f" number {i}",
                "label": "correct" if good else "incorrect",
                "item_id": items[i % len(items)],
                "item_text": f"How do you separate salt from water? ({items[i % len(items)]})",
                "reference": "The water evaporates, leaving the salt.",
            }
        )
    return pd.DataFrame(out)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "cache"))


def blobs(centres: int, per: int, seed: int = 0) -> np.ndarray:
    """``centres`` well-separated groups of ``per`` unit vectors each, in order."""
    rng = np.random.default_rng(seed)
    means = np.eye(16)[:centres] * 10
    points = np.concatenate([m + rng.normal(scale=0.3, size=(per, 16)) for m in means])
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def pool_of(vectors: np.ndarray, items: list[str] | None = None, proba: np.ndarray | None = None, **coded) -> SelectionPool:
    coded_vectors = coded.get("coded_vectors", np.zeros((0, vectors.shape[1])))
    return SelectionPool(
        vectors=vectors,
        items=np.asarray(items or [""] * len(vectors), dtype=object),
        coded_vectors=coded_vectors,
        coded_items=np.asarray(coded.get("coded_items", [""] * len(coded_vectors)), dtype=object),
        coded_labels=np.zeros(len(coded_vectors), dtype=np.int64),
        labels=["correct", "incorrect"],
        proba=proba,
    )


def test_registry_names_the_required_strategies():
    assert {"random", "margin", "entropy", "cluster", "clue", "stratified"} <= set(STRATEGIES)
    assert DEFAULT_STRATEGY in STRATEGIES
    assert all(cls.name == name for name, cls in STRATEGIES.items())


def test_cluster_cold_start_takes_one_response_per_group_and_skips_covered_groups():
    vectors = blobs(3, 10)
    picked = STRATEGIES["cluster"]().rank(pool_of(vectors), 3).order
    assert sorted(picked // 10) == [0, 1, 2]
    covered = pool_of(vectors[10:], coded_vectors=vectors[:2])  # group 0 already has coded rows
    picked = STRATEGIES["cluster"]().rank(pool_of(vectors[2:], coded_vectors=vectors[:2]), 2).order + 2
    assert sorted(picked // 10) == [1, 2]
    assert len(covered) == 20


def test_margin_ranks_the_least_certain_first_and_says_why():
    proba = np.array([[0.9, 0.1], [0.52, 0.48], [0.7, 0.3], [0.45, 0.55]])
    ranking = STRATEGIES["margin"]().rank(pool_of(blobs(1, 4), proba=proba), 4)
    assert ranking.order.tolist() == [1, 3, 2, 0]
    assert ranking.reasons[0] == "model unsure: correct 0.52 vs incorrect 0.48"


def test_model_strategies_fall_back_to_cold_start_without_a_model():
    ranking = STRATEGIES["margin"]().rank(pool_of(blobs(3, 5)), 3)
    assert sorted(ranking.order // 5) == [0, 1, 2]
    assert all(r.startswith("cold start") for r in ranking.reasons)


def test_a_random_start_strategy_draws_what_random_draws_until_a_model_exists_then_ranks_by_entropy():
    pool = pool_of(blobs(3, 5))
    ranking = STRATEGIES["entropy-random-start"]().rank(pool, 4)
    assert ranking.order.tolist() == STRATEGIES["random"]().rank(pool, 4).order.tolist()
    assert all(r == "cold start (no model yet): random draw" for r in ranking.reasons)
    proba = np.array([[0.9, 0.1], [0.52, 0.48], [0.7, 0.3], [0.45, 0.55]])
    assert STRATEGIES["entropy-random-start"]().rank(pool_of(blobs(1, 4), proba=proba), 4).order.tolist() == [1, 3, 2, 0]


def test_entropy_density_prefers_a_typical_uncertain_response_to_an_odd_one():
    typical = blobs(1, 6)  # six similar responses to item a
    odd = -typical[:1]  # an equally uncertain response to item a unlike any other
    vectors = np.concatenate([typical, odd])
    proba = np.array([[0.5, 0.5]] + [[0.9, 0.1]] * 5 + [[0.5, 0.5]])
    strategy = STRATEGIES["entropy-density"]()
    ranking = strategy.rank(pool_of(vectors, ["a"] * 7, proba=proba), 3)
    assert ranking.order[0] == 0 and 6 not in ranking.order[:2]
    assert STRATEGIES["entropy"]().rank(pool_of(vectors, ["a"] * 7, proba=proba), 2).order.tolist() in ([0, 6], [6, 0])
    assert ranking.reasons[0].endswith("typical of its item's responses")
    # a response alone in its item is neither favoured nor punished: it gets the median density
    lonely = pool_of(vectors[:3], ["a", "a", "b"], proba=np.array([[0.9, 0.1], [0.9, 0.1], [0.5, 0.5]]))
    assert strategy.rank(lonely, 1).order.tolist() == [2]


def test_entropy_spread_takes_one_pick_per_item_per_round_most_uncertain_item_first():
    items = ["a", "a", "a", "b", "b", "c"]
    proba = np.array([[0.5, 0.5], [0.51, 0.49], [0.52, 0.48], [0.6, 0.4], [0.9, 0.1], [0.8, 0.2]])
    ranking = STRATEGIES["entropy-spread"]().rank(pool_of(blobs(1, 6), items, proba=proba), 6)
    assert ranking.order.tolist() == [0, 3, 5, 1, 4, 2]  # round 1: a, b, c by top entropy; then a, b; then a
    assert ranking.reasons[1].endswith("pick 1 for its item in this batch")
    assert ranking.reasons[3].endswith("pick 2 for its item in this batch")
    assert STRATEGIES["entropy"]().rank(pool_of(blobs(1, 6), items, proba=proba), 3).order.tolist() == [0, 1, 2]


def test_clue_spreads_uncertain_picks_over_groups():
    vectors = blobs(2, 10)
    certain, unsure = [0.99, 0.01], [0.5, 0.5]
    proba = np.array([unsure if i in (3, 4, 13, 14) else certain for i in range(20)])
    picked = STRATEGIES["clue"]().rank(pool_of(vectors, proba=proba), 2).order
    assert sorted(picked // 10) == [0, 1]


def test_item_quotas_fill_the_least_coded_items_first():
    vectors = blobs(1, 9)
    items = ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    pool = pool_of(vectors, items, coded_vectors=blobs(1, 3), coded_items=["a", "a", "b"])
    assert item_quotas(pool, 3) == {"b": 1, "c": 2}
    ranking = STRATEGIES["stratified"]().rank(pool, 3)
    chosen_items = [items[i] for i in ranking.order]
    assert chosen_items[0] == "c" and sorted(chosen_items) == ["b", "c", "c"]
    assert "item c has 0 coded rows" in ranking.reasons[0]


def test_random_depends_on_the_seed_only():
    pool = pool_of(blobs(1, 30))
    first, again = (STRATEGIES["random"]().rank(pool, 5).order for _ in range(2))
    assert first.tolist() == again.tolist()


# -- select_rows on a tiny encoder ------------------------------------------------------------------------------


def test_cold_start_never_proposes_coded_or_repeated_rows(tiny_encoder: Path):
    pool = responses("p", 24, items=("q1", "q2"))
    pool = pd.concat([pool, pool.iloc[[0]].assign(id="copy-of-p0")], ignore_index=True)  # same item and text
    coded = pool.iloc[[1, 2]].copy()
    coded.loc[coded.index[1], "id"] = "renamed"  # coded under another id: its text still counts
    out = select_rows(pool, coded, 20, encoder=str(tiny_encoder), strategy="stratified")
    assert list(out.columns[-4:]) == list(OUTPUT_COLUMNS)
    assert out["rank"].tolist() == list(range(1, 21))
    assert not set(out["id"]) & {"p1", "p2"}
    assert not {"p0", "copy-of-p0"} <= set(out["id"])
    assert (out["guess"] == "").all() and out["guess_confidence"].isna().all()
    assert out.attrs["select"]["set_aside"] == {"coded": 2, "duplicate": 1, "empty": 0}
    assert out["item_id"].iloc[:2].tolist() in (["q1", "q2"], ["q2", "q1"])  # items take turns
    first = select_rows(pool, None, 4, encoder=str(tiny_encoder), strategy="cluster")  # nothing coded yet
    assert len(first) == 4 and first["reason"].str.contains("no coded row covers").all()


def test_with_enough_coded_rows_a_model_guesses(tiny_encoder: Path):
    pool = responses("p", 30, start=100)
    coded = responses("c", 12)
    out = select_rows(pool, coded, 5, encoder=str(tiny_encoder), strategy="margin")
    assert set(out["guess"]) <= {"correct", "incorrect"} and out["guess"].ne("").all()
    assert out["guess_confidence"].between(0.5, 1.0).all()
    assert out["reason"].str.startswith("model unsure").all()
    assert out.attrs["select"]["model"] == f"hybrid:{tiny_encoder}"


def test_bad_input_is_one_clear_error(tiny_encoder: Path):
    pool = responses("p", 10)
    with pytest.raises(ParameterError, match="strategy must be one of"):
        select_rows(pool, None, 2, strategy="nope", encoder=str(tiny_encoder))
    with pytest.raises(ParameterError, match="n is 11, more than the 10 pool rows"):
        select_rows(pool, None, 11, encoder=str(tiny_encoder))
    with pytest.raises(SynthgradeError, match="pool is empty"):
        select_rows(pool.iloc[:0], None, 1, encoder=str(tiny_encoder))
    with pytest.raises(SynthgradeError, match="no pool row is left to propose: 10 are already coded"):
        select_rows(pool, pool, 1, encoder=str(tiny_encoder))
    with pytest.raises(SynthgradeError, match="label 'incorrect' is not one of"):
        select_rows(pool, responses("c", 4), 1, labels=["correct", "partial"], encoder=str(tiny_encoder))
    held_out = pool.iloc[[3, 4]].assign(id=["v1", "v2"])
    with pytest.raises(SynthgradeError, match="2 pool rows are also in the excluded"):
        select_rows(pool, None, 1, exclude=[held_out], encoder=str(tiny_encoder))


def test_embeddings_are_read_back_from_disk(tiny_encoder: Path, monkeypatch):
    from synthgrade.select.vectors import response_vectors

    texts = [f"response number {i}" for i in range(6)]
    first = response_vectors(texts, str(tiny_encoder))
    monkeypatch.setattr(embed, "_VECTORS", {})  # a new process: nothing in memory

    def no_encoder(*args, **kwargs):
        raise AssertionError("embedded again instead of reading the disk cache")

    monkeypatch.setattr(embed, "_embed", no_encoder)
    np.testing.assert_allclose(response_vectors(texts[::-1], str(tiny_encoder)), first[::-1], rtol=1e-6)


# -- audit ------------------------------------------------------------------------------------------------------


def test_audit_ranks_flipped_labels_first(tiny_encoder: Path):
    coded = responses("c", 60)
    flipped = ["c7", "c20", "c33"]
    wrong = coded["id"].isin(flipped)
    coded.loc[wrong, "label"] = coded.loc[wrong, "label"].map({"correct": "incorrect", "incorrect": "correct"})
    suspects = find_suspects(coded, model=f"hybrid:{tiny_encoder}")
    assert suspects["suspect_rank"].tolist() == list(range(1, 61))
    assert precision_at_k(suspects["id"], flipped) >= 2 / 3
    top = suspects.iloc[0]
    assert top["model_label"] != top["label"] and top["given_label_confidence"] < 0.5
    assert suspects["flagged"].iloc[:2].all() and len(suspects) == len(coded)


def test_audit_needs_two_labels_with_rows():
    with pytest.raises(SynthgradeError, match="at least two labels"):
        find_suspects(responses("c", 6).assign(label="correct"))


# -- the commands -----------------------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    pool, coded = responses("p", 30, start=100, items=("q1", "q2")), responses("c", 12, items=("q1", "q2"))
    paths = {"pool": tmp_path / "pool.csv", "coded": tmp_path / "coded.csv", "val": tmp_path / "val.csv"}
    pool.drop(columns=["label"]).to_csv(paths["pool"], index=False)
    coded.to_csv(paths["coded"], index=False)
    pool.iloc[:3].assign(id=["v1", "v2", "v3"]).to_csv(paths["val"], index=False)
    return paths


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty pool", "no data rows"),
        ("pool is coded", "no pool row is left to propose: 12 are already coded"),
        ("n too large", "--n is 31, more than the 30 pool rows left to propose"),
        ("unknown strategy", "--strategy must be one of random, margin"),
        ("label outside --labels", "label 'incorrect' is not one of"),
        ("pool overlaps --exclude", "3 pool rows are also in the excluded validation/test data"),
    ],
)
def test_select_refuses_bad_input_in_one_line(cli, files: dict[str, Path], tmp_path: Path, case: str, message: str):
    out = tmp_path / "next.csv"
    args = [files["pool"], "--coded", files["coded"], "--n", "5", "--out", out]
    if case == "empty pool":
        (tmp_path / "empty.csv").write_text("id,text,item_id\n")
        args[0] = tmp_path / "empty.csv"
    elif case == "pool is coded":
        args[0] = files["coded"]
    elif case == "n too large":
        args[4] = "31"
    elif case == "unknown strategy":
        args += ["--strategy", "psychic"]
    elif case == "label outside --labels":
        args += ["--labels", "correct,partial"]
    else:
        args += ["--exclude", files["val"]]
    result = cli("select", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert message in errors[0] and all(line.startswith("error:") for line in errors), errors
    assert len(errors) == 1 or case == "label outside --labels"  # the validator names every bad row, one line each
    assert not out.exists() and not list(tmp_path.glob(".next.csv*"))


def test_select_and_audit_commands_write_their_tables(cli, files: dict[str, Path], tmp_path: Path, tiny_encoder: Path):
    out = tmp_path / "next.csv"
    result = cli("select", files["pool"], "--coded", files["coded"], "--n", "6", "--out", out, "--encoder", tiny_encoder)
    assert result.returncode == 0, result.stdout + result.stderr
    chosen = pd.read_csv(out)
    assert chosen["rank"].tolist() == list(range(1, 7)) and chosen["guess"].notna().all()
    assert not set(chosen["id"]) & set(pd.read_csv(files["coded"])["id"])
    suspects = tmp_path / "suspects.csv"
    result = cli("audit", files["coded"], "--out", suspects, "--model", f"hybrid:{tiny_encoder}")
    assert result.returncode == 0, result.stdout + result.stderr
    table = pd.read_csv(suspects)
    assert len(table) == 12 and {"suspect_rank", "model_label", "model_confidence", "given_label_confidence"} <= set(table)
