"""Issue 13 through the real command line: nothing lost, nothing overwritten, no traceback.

Each test reproduces one probe that used to overwrite an input, overwrite an output silently, leave
temporaries behind or copy a credential into a file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.llm_server import FakeChatServer
from helpers.tiny_scorer import build_tiny_scorer


def fails_cleanly(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.fixture
def civics(fixtures: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "civics.csv"
    shutil.copy(fixtures / "civics.csv", copy)
    return copy


@pytest.fixture(scope="module")
def model(tiny_encoder: Path, tmp_path_factory) -> Path:
    return build_tiny_scorer(tiny_encoder, tmp_path_factory.mktemp("reliability-model"))


# -- items 1-3: one output guard for every command ---------------------------------------------------


def test_generate_refuses_to_write_over_its_own_input(civics: Path, tmp_path: Path, cli) -> None:
    before = civics.read_bytes()
    with FakeChatServer() as server:  # a fast generator, so that before the fix the overwrite really happened
        result = cli(
            "generate", civics, "--out", civics, "--backend", "openai", "--model", "fake-model", "--base-url",
            server.base_url, "--per-label", "2", "--embedder", "none", "--no-progress", "--cache", tmp_path / "cache",
        )  # fmt: skip
    fails_cleanly(result, "would overwrite the input")
    assert civics.read_bytes() == before


def test_split_refuses_a_folder_whose_output_names_the_input(civics: Path, cli) -> None:
    data = civics.with_name("train.csv")
    civics.rename(data)
    before = data.read_bytes()
    result = cli("split", data, "--out", data.parent)
    fails_cleanly(result, "would overwrite the input")
    assert data.read_bytes() == before and not (data.parent / "manifest.json").exists()


def test_split_refuses_existing_outputs_unless_overwrite(civics: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "split"
    assert cli("split", civics, "--out", out).returncode == 0
    manifest = (out / "manifest.json").read_bytes()
    fails_cleanly(cli("split", civics, "--out", out, "--seed", "1"), "already exists", "--overwrite")
    assert (out / "manifest.json").read_bytes() == manifest
    assert cli("split", civics, "--out", out, "--seed", "1", "--overwrite").returncode == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 1


def test_predict_refuses_existing_output_and_its_input(model: Path, civics: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "scored.csv"
    out.write_text("precious\n", encoding="utf-8")
    fails_cleanly(cli("predict", model, civics, "--out", out), "already exists", "--overwrite")
    assert out.read_text(encoding="utf-8") == "precious\n"
    fails_cleanly(cli("predict", model, civics, "--out", civics, "--overwrite"), "would overwrite the input")
    assert cli("predict", model, civics, "--out", out, "--overwrite").returncode == 0
    assert "pred_label" in out.read_text(encoding="utf-8")


def test_generate_refuses_existing_output_or_summary(civics: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "synthetic.jsonl"
    (tmp_path / "synthetic.summary.json").write_text("{}", encoding="utf-8")
    fails_cleanly(cli("generate", civics, "--out", out, "--embedder", "none"), "synthetic.summary.json: already exists")


# -- item 9: temporaries of a killed writer are removed by the next run ------------------------------

KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from synthgrade.io import atomic_directory, atomic_path
    folder = sys.argv[1]
    with atomic_path(folder + "/out.csv") as tmp, atomic_directory(folder + "/model") as staging:
        tmp.write_text("half")
        (staging / "weights.bin").write_text("half")
        print("ready", flush=True)
        time.sleep(600)
    """
)


def test_kill_9_leftovers_are_removed_by_the_next_writer(tmp_path: Path) -> None:
    from synthgrade.io import atomic_directory, atomic_path

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env, text=True)
    assert writer.stdout.readline().strip() == "ready"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert len(leftovers) == 2 and all(name.endswith(".tmp") for name in leftovers)
    with atomic_path(tmp_path / "out.csv") as tmp:
        tmp.write_text("whole")
    with atomic_directory(tmp_path / "model") as staging:
        (staging / "weights.bin").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "out.csv"]


def test_stale_temporaries_of_live_writers_are_kept(tmp_path: Path) -> None:
    from synthgrade.io import remove_stale_temporaries

    live = tmp_path / f".out.csv.{os.getpid()}.abc123.tmp"
    live.write_text("in progress")
    sleeper = subprocess.Popen([sys.executable, "-c", "pass"])
    sleeper.wait()  # a pid that no longer runs
    dead = tmp_path / "sub" / f".trials.jsonl.{sleeper.pid}.xyz.tmp"
    dead.parent.mkdir()
    dead.write_text("half")
    assert remove_stale_temporaries(tmp_path, recursive=True) == [dead]
    assert live.exists() and not dead.exists()


# -- item 11: credentials in --base-url never reach a file -------------------------------------------


def test_base_url_credentials_never_reach_summary_or_messages(fixtures: Path, tmp_path: Path, cli) -> None:
    secret = "sk-in-url-SECRET-42"
    with FakeChatServer() as server:
        url = server.base_url.replace("http://", f"http://user:{secret}@")
        out = tmp_path / "synthetic.jsonl"
        result = cli(
            "generate", fixtures / "civics.csv", "--out", out, "--backend", "openai", "--model", "fake-model",
            "--base-url", url, "--per-label", "2", "--per-call", "2", "--embedder", "none", "--no-progress",
            "--cache", tmp_path / "cache",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    summary = (tmp_path / "synthetic.summary.json").read_text(encoding="utf-8")
    assert "***@127.0.0.1" in summary
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in result.stdout + result.stderr


# -- item 13: help screens at 80 columns -------------------------------------------------------------

COMMANDS = "validate split generate filter train distill evaluate predict export serve sweep report presets demo build".split()


def _help(command: str, width: int) -> str:
    from typer.testing import CliRunner

    from synthgrade.cli import app

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": str(width)}, terminal_width=width)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= width
    return result.output


def _words(text: str) -> set[str]:
    return set(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def _description_width(text: str) -> int | None:
    """Characters left for option descriptions: from the end of the metavar column (``<int>``) to the box edge."""
    starts = [m.end() for line in text.splitlines() if (m := re.match(r"│.*?--[\w-]+.*?<[^>]+>\s+", line))]
    edge = max((len(line) for line in text.splitlines() if line.startswith("│")), default=0)
    return edge - 2 - max(starts) if starts else None


@pytest.mark.parametrize("command", COMMANDS)
def test_help_at_80_columns_breaks_no_word_and_leaves_room_to_read(command: str) -> None:
    narrow = _help(command, 80)
    # A word seen at 80 columns but not in the unwrapped help is a fragment of a word broken mid-way.
    fragments = _words(narrow) - _words(_help(command, 300))
    assert not fragments, f"{command} --help breaks words at 80 columns: {sorted(fragments)}"
    width = _description_width(narrow)
    # train's --class-weights/--no-class-weights pair squeezed its descriptions into 19 columns
    assert width is None or width >= 28, f"{command} --help leaves {width} columns for option descriptions"
