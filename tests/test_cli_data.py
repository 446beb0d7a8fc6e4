"""``synthgrade validate`` and ``split`` through the real console entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_help_lists_existing_commands(cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    assert "validate" in result.stdout and "split" in result.stdout


def test_validate_bad_csv_exits_2_and_names_each_row(cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,label\nfine,correct\n,incorrect\nno label,\nodd one,maybe\n")
    result = cli("validate", path, "--labels", "correct,incorrect")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "bad.csv line 3: empty or whitespace-only text" in result.stderr
    assert "bad.csv line 4: missing label" in result.stderr
    assert "bad.csv line 5: label 'maybe' is not one of the declared labels correct,incorrect" in result.stderr


def test_validate_good_file_exits_0(cli, fixtures: Path) -> None:
    result = cli("validate", fixtures / "civics.csv", "--labels", "correct,incorrect")
    assert result.returncode == 0, result.stderr
    assert "24 responses" in result.stdout and "ok" in result.stdout


def test_missing_file_is_one_line_error(cli, tmp_path: Path) -> None:
    result = cli("validate", tmp_path / "none.csv")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no such file" in result.stderr


def test_messages_stay_on_one_line_under_long_paths(cli, fixtures: Path, tmp_path: Path) -> None:
    # Piped output must not be hard-wrapped at 80 columns: logs and scripts read whole lines.
    deep = tmp_path / ("a-rather-long-folder-name-" * 4)
    deep.mkdir()
    good = deep / "civics.csv"
    good.write_bytes((fixtures / "civics.csv").read_bytes())
    result = cli("validate", good)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"{good}: 24 responses, 1 items"
    result = cli("validate", deep / "missing.csv")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(deep / "missing.csv") in lines[0]


def test_split_writes_files_and_refuses_bad_data(cli, fixtures: Path, tmp_path: Path) -> None:
    result = cli("split", fixtures / "civics.csv", "--out", tmp_path / "split", "--seed", "7")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "split" / "manifest.json").read_text())
    assert manifest["seed"] == 7 and sum(s["rows"] for s in manifest["splits"].values()) == 24
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\n,correct\n")
    result = cli("split", bad, "--out", tmp_path / "nosplit")
    assert result.returncode == 2 and not (tmp_path / "nosplit").exists()


@pytest.mark.slow
def test_scientsbank_2way_train_counts(cli, scientsbank: Path) -> None:
    result = cli("validate", scientsbank / "2way" / "train")
    assert result.returncode == 0, result.stderr
    assert "4,969 responses, 135 items" in result.stdout
    assert "2,008" in result.stdout and "2,961" in result.stdout


def test_scientsbank_loader_counts(scientsbank: Path) -> None:
    from synthgrade.data import load_responses

    frame = load_responses(scientsbank / "2way" / "train")
    assert len(frame) == 4969 and frame["item_id"].nunique() == 135
    assert frame["label"].value_counts().to_dict() == {"incorrect": 2961, "correct": 2008}
    three = load_responses(scientsbank / "3way" / "train")
    assert set(three["label"]) == {"correct", "contradictory", "incorrect"}
