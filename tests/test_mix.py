"""Mixing human and synthetic rows: arithmetic of both modes, budgets, label shares, manifest, errors."""

from __future__ import annotations

import pandas as pd
import pytest

from synthgrade.data import is_synthetic
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.mix import SyntheticShortfall, allocate, mix_training_set, synthetic_sources


def human_rows(n_pos: int = 30, n_neg: int = 10) -> pd.DataFrame:
    labels = ["pos"] * n_pos + ["neg"] * n_neg
    return pd.DataFrame(
        {"id": [f"h{i}" for i in range(len(labels))], "text": [f"human {i}" for i in range(len(labels))], "label": labels}
    )


def synthetic_rows(n_pos: int = 150, n_neg: int = 100) -> pd.DataFrame:
    labels = ["pos"] * n_pos + ["neg"] * n_neg
    return pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(len(labels))],
            "text": [f"synthetic {i}" for i in range(len(labels))],
            "label": labels,
            "synthetic": True,
            "backend": "openai",
            "model": "gpt-4o",
            "temperature": [0.3 if i % 2 else 0.7 for i in range(len(labels))],
            "filter_label": labels,
        }
    )


def test_allocate_is_exact_and_proportional() -> None:
    assert allocate(10, [3, 1]) == [8, 2]  # 7.5 / 2.5: the tie goes to the first label
    assert sum(allocate(7, [1, 1, 1])) == 7
    assert allocate(0, [1, 2]) == [0, 0]


def test_addon_mode_keeps_all_human_rows_and_hits_the_ratio() -> None:
    result = mix_training_set(human_rows(), synthetic_rows(), ratio=0.8, mode="addon", seed=1)
    manifest = result.manifest
    # 40 human rows at 80% synthetic: 0.8 * 40 / 0.2 = 160 synthetic rows.
    assert manifest["human_rows"] == 40 and manifest["synthetic_rows"] == 160 and manifest["rows"] == 200
    assert manifest["achieved_ratio"] == pytest.approx(0.8)
    # Synthetic label shares follow the human data (75% pos).
    assert manifest["label_counts"]["synthetic"] == {"neg": 40, "pos": 120}
    assert set(manifest["human_ids"]) == {f"h{i}" for i in range(40)}
    assert len(set(manifest["synthetic_ids"])) == 160
    assert set(result.frame["id"]) == set(manifest["human_ids"]) | set(manifest["synthetic_ids"])
    assert result.frame["synthetic"].sum() == 160 and result.frame["synthetic"].dtype == bool


def test_fixed_total_mode_and_human_budget() -> None:
    result = mix_training_set(human_rows(), synthetic_rows(), ratio=0.25, mode="fixed-total", total=20, human_budget=24, seed=0)
    manifest = result.manifest
    assert manifest["rows"] == 20 and manifest["synthetic_rows"] == 5 and manifest["human_rows"] == 15
    # Stratified: 3:1 human labels survive the budget and the subsample.
    assert manifest["label_counts"]["human"] == {"neg": 4, "pos": 11} or manifest["label_counts"]["human"] == {
        "neg": 3,
        "pos": 12,
    }
    assert sum(manifest["label_counts"]["synthetic"].values()) == 5


def test_ratio_zero_and_one() -> None:
    only_human = mix_training_set(human_rows(), None, ratio=0.0)
    assert only_human.manifest["synthetic_rows"] == 0 and len(only_human.frame) == 40
    only_synthetic = mix_training_set(human_rows(), synthetic_rows(), ratio=1.0, mode="fixed-total", total=40)
    assert only_synthetic.manifest["human_rows"] == 0 and only_synthetic.manifest["synthetic_rows"] == 40
    assert only_synthetic.manifest["label_counts"]["synthetic"] == {"neg": 10, "pos": 30}


def test_mixing_is_deterministic_by_seed() -> None:
    a = mix_training_set(human_rows(), synthetic_rows(), ratio=0.5, seed=3)
    b = mix_training_set(human_rows(), synthetic_rows(), ratio=0.5, seed=3)
    c = mix_training_set(human_rows(), synthetic_rows(), ratio=0.5, seed=4)
    assert a.frame["id"].tolist() == b.frame["id"].tolist() and a.manifest["hash"] == b.manifest["hash"]
    assert a.manifest["synthetic_ids"] != c.manifest["synthetic_ids"]


def test_more_synthetic_than_available_is_an_error() -> None:
    with pytest.raises(SynthgradeError, match="label 'pos' needs 120, has 50"):
        mix_training_set(human_rows(), synthetic_rows(n_pos=50), ratio=0.8)
    with pytest.raises(SynthgradeError, match="no synthetic data"):
        mix_training_set(human_rows(), None, ratio=0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratio": 1.5}, "between 0 and 1"),
        ({"ratio": 0.5, "mode": "blend"}, "addon"),
        ({"ratio": 1.0}, "fixed-total"),
        ({"ratio": 0.5, "mode": "fixed-total"}, "^total must be a positive number"),
        ({"ratio": 0.0, "mode": "fixed-total", "total": 100}, "needs 100 human rows, only 40"),
        ({"ratio": 0.5, "human_budget": 41}, "more than the 40 human rows"),
        ({"ratio": 0.5, "total": 10}, "only applies"),
    ],
)
def test_bad_requests_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(SynthgradeError, match=message):
        mix_training_set(human_rows(), synthetic_rows(), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"ratio": 1.5}, "ratio"),
        ({"ratio": 0.5, "mode": "blend"}, "mode"),
        ({"ratio": 1.0}, "ratio"),
        ({"ratio": 0.5, "mode": "fixed-total"}, "total"),
        ({"ratio": 0.0, "mode": "fixed-total", "total": 100}, "total"),
        ({"ratio": 0.5, "human_budget": 0}, "human_budget"),
        ({"ratio": 0.5, "human_budget": 41}, "human_budget"),
        ({"ratio": 0.5, "total": 10}, "total"),
    ],
)
def test_errors_name_the_parameter_not_a_cli_flag(kwargs: dict, param: str) -> None:
    with pytest.raises(ParameterError) as caught:
        mix_training_set(human_rows(), synthetic_rows(n_pos=50), **kwargs)
    assert caught.value.param == param and str(caught.value).startswith(f"{param} ")
    assert "--" not in str(caught.value)


def test_a_shortfall_is_its_own_error_type() -> None:
    expected = r"^not enough synthetic rows for ratio 0.8 \(160 needed\): label 'pos' needs 120, has 50 \(generate more"
    with pytest.raises(SyntheticShortfall, match=expected):
        mix_training_set(human_rows(), synthetic_rows(n_pos=50), ratio=0.8)
    with pytest.raises(ParameterError, match="^synthetic has no rows") as caught:
        mix_training_set(human_rows(), None, ratio=0.5)
    assert not isinstance(caught.value, SyntheticShortfall)


def test_synthetic_rows_in_the_human_file_are_refused() -> None:
    polluted = pd.concat([human_rows(), synthetic_rows().head(2)], ignore_index=True)
    with pytest.raises(SynthgradeError, match="contains synthetic rows"):
        mix_training_set(polluted, None)


def test_sources_summarise_provenance_and_truthy_strings() -> None:
    result = mix_training_set(human_rows(), synthetic_rows(), ratio=0.5, seed=0)
    sources = synthetic_sources(result.frame)
    assert {s["temperature"] for s in sources} == {0.3, 0.7}
    assert sum(s["rows"] for s in sources) == 40 and all(s["model"] == "gpt-4o" and s["filtered"] for s in sources)
    flags = pd.DataFrame({"synthetic": ["True", "false", None, 1]})
    assert is_synthetic(flags).tolist() == [True, False, False, True]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ratio", "1.5"), "--ratio must be between 0 and 1, got 1.5"),
        (("--mix", "blend"), "--mix must be 'addon' or 'fixed-total', got 'blend'"),
        (("--human-budget", "0"), "--human-budget must be positive, got 0"),
        (("--ratio", "0.5"), "--synthetic has no rows: ratio 0.5 needs 8 synthetic rows"),
    ],
)
def test_the_cli_names_the_flag_of_a_bad_mix_parameter(tmp_path, cli, args: tuple[str, ...], message: str) -> None:
    human = tmp_path / "h.csv"
    human.write_text("text,label\n" + "".join(f"answer {i},{'ab'[i % 2]}\n" for i in range(8)))
    val = tmp_path / "v.csv"
    val.write_text("text,label\nanswer x,a\nanswer y,b\n")
    result = cli("train", "--human", str(human), "--val", str(val), "--out", str(tmp_path / "m"), "--model", "tfidf", *args)
    assert result.returncode == 2
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "m").exists()
