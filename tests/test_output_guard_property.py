"""Issue 24: one output guard for every command, as a property.

For every command that writes, any ``--out`` that equals an input file or model directory, or lies inside
one, is refused with one line before anything is written, and every input stays byte-identical.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.cli import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthgrade.errors import SynthgradeError

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "synthgrade" / "examples" / "tutor-errors" / "responses.csv"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("guard")
    split = root / "split"
    assert run_cli("split", EXAMPLE, "--out", split, "--val", "0.25", "--test", "0.25").returncode == 0
    model = root / "model"
    trained = run_cli("train", "--human", split / "train.csv", "--val", split / "val.csv", "--out", model, "--model", "tfidf")
    assert trained.returncode == 0, trained.stderr
    data = root / "data.csv"
    shutil.copy(EXAMPLE, data)
    return {"train": split / "train.csv", "val": split / "val.csv", "test": split / "test.csv", "model": model, "data": data}


#: command -> (the inputs it reads, its argv for an --out); every command that takes --out and an input.
COMMANDS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Path], Path], list]]] = {
    "evaluate": (("model", "test"), lambda p, out: ["evaluate", p["model"], p["test"], "--out", out, "--overwrite"]),
    "predict": (("model", "test"), lambda p, out: ["predict", p["model"], p["test"], "--out", out, "--overwrite"]),
    "build": (
        ("data", "test"),
        lambda p, out: [
            "build",
            p["data"],
            "--test",
            p["test"],
            "--out",
            out,
            "--overwrite",
            "--model",
            "tfidf",
            "--strategies",
            "",
        ],
    ),  # fmt: skip
    "train": (
        ("train", "val"),
        lambda p, out: ["train", "--human", p["train"], "--val", p["val"], "--out", out, "--model", "tfidf", "--overwrite"],
    ),  # fmt: skip
    "distill": (
        ("model", "train", "val"),
        lambda p, out: [
            "distill",
            "--teacher",
            p["model"],
            "--train",
            p["train"],
            "--val",
            p["val"],
            "--out",
            out,
            "--overwrite",
        ],
    ),  # fmt: skip
    "generate": (
        ("train", "val"),
        lambda p, out: [
            "generate",
            p["train"],
            "--exclude",
            p["val"],
            "--out",
            out,
            "--backend",
            "openai",
            "--model",
            "m",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--embedder",
            "none",
            "--overwrite",
        ],
    ),  # fmt: skip
    "filter": (
        ("data", "model"),
        lambda p, out: ["filter", p["data"], "--out", out, "--method", "classifier", "--classifier", p["model"], "--overwrite"],
    ),  # fmt: skip
    "export": (("model", "test"), lambda p, out: ["export", p["model"], "--out", out, "--sample", p["test"], "--overwrite"]),
    "split": (("data",), lambda p, out: ["split", p["data"], "--out", out, "--overwrite"]),
}


def _digest(paths: list[Path]) -> dict[str, str]:
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*"))) if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@st.composite
def out_for_an_input(draw) -> tuple[str, str, tuple[str, ...]]:
    """(command, the input the --out hits, the path below that input: () for the input itself)."""
    command = draw(st.sampled_from(sorted(COMMANDS)))
    target = draw(st.sampled_from(COMMANDS[command][0]))
    folders = draw(st.lists(st.sampled_from(["sub", "deeper", "report", "split"]), max_size=2))
    below = () if draw(st.booleans()) else (*folders, draw(st.sampled_from(["out.jsonl", "out.csv", "synthgrade.json"])))
    return command, target, below


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=out_for_an_input())
def test_an_out_on_or_inside_any_input_is_refused_and_inputs_stay_identical(inputs: dict[str, Path], case) -> None:
    from typer.testing import CliRunner

    from synthgrade.cli import app

    command, target, below = case
    argv = COMMANDS[command][1]
    out = inputs[target].joinpath(*below)
    before = _digest([inputs["data"].parent])  # every input, and anything a command might add beside them
    result = CliRunner().invoke(app, [str(a) for a in argv(inputs, out)])
    assert isinstance(result.exception, SynthgradeError), (command, target, below, result.output, result.exception)
    message = str(result.exception)
    assert "would overwrite the input" in message or "would delete the input" in message, message
    assert _digest([inputs["data"].parent]) == before
