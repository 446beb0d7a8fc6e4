"""Issue 24: ``build`` against a generator server that dies, hangs or answers garbage mid-run.

The build must end with one clear error (exit 2) or go on without the synthetic set (never claiming it
helped), must not record a failed generation as done, and a rerun once the server is back generates and
uses the set. The server is the fake OpenAI-compatible one in ``helpers/llm_server.py``; a restarted server takes
the same port, so the rerun is the same command.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.llm_server import FakeChatServer

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "synthgrade" / "examples" / "tutor-errors" / "responses.csv"
#: A few calls go through before the fault, so the fault comes mid-run and the cache holds some answers.
ANSWERED_FIRST = 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _build(out: Path, port: int, cache: Path):
    return run_cli(
        "build", EXAMPLE, "--out", out, "--model", "tfidf", "--strategies", "paraphrase", "--backend", "openai",
        "--generator", "fake-model", "--base-url", f"http://127.0.0.1:{port}/v1", "--shares", "0.5", "--weights", "1",
        "--filter", "off", "--timeout", "2",
        env={"SYNTHGRADE_CACHE": str(cache), "OPENAI_API_KEY": ""},
    )  # fmt: skip


FAULTS = {
    # the server process goes away: the port closes
    "dies": ({"script": ["ok"] * ANSWERED_FIRST + ["die"] * 400}, "cannot connect"),
    # the server accepts requests and never answers within --timeout
    "hangs": ({"script": ["ok"] * ANSWERED_FIRST + ["timeout"] * 400, "timeout_sleep": 20.0}, "attempts failed (timeout)"),
    # the server answers with bodies that are not JSON
    "answers garbage": ({"script": ["ok"] * ANSWERED_FIRST + ["malformed"] * 400}, "attempts failed (malformed_response)"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_generator_fault_mid_build_is_a_clear_error_and_a_rerun_generates(fault: str, tmp_path: Path) -> None:
    options, message = FAULTS[fault]
    port, out, cache = _free_port(), tmp_path / "build", tmp_path / "cache"
    started = time.perf_counter()
    with FakeChatServer(port=port, **options) as broken:
        failed = _build(out, port, cache)
    assert failed.returncode == 2, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr and message in failed.stderr, failed.stderr[-3000:]
    assert broken.answered == ANSWERED_FIRST
    assert time.perf_counter() - started < 240
    assert not list((out / "work").rglob("paraphrase-t0.3.jsonl")), "a failed generation was recorded as done"

    with FakeChatServer(port=port) as recovered:
        rerun = _build(out, port, cache)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert recovered.answered > 0  # the rerun called the server again; the first answers came from the cache
    summary = json.loads((out / "build.json").read_text(encoding="utf-8"))
    (paraphrase,) = summary["synthetic_sets"]
    assert paraphrase.get("rows", 0) > 0 and "why_empty" not in paraphrase, paraphrase
    assert any("val_macro_f1" in cell for cell in summary["grid"])


def test_empty_answers_leave_the_set_unused_and_never_claim_it_helped(tmp_path: Path) -> None:
    port = _free_port()
    with FakeChatServer(port=port, script=["empty"] * 400) as server:
        result = _build(tmp_path / "build", port, tmp_path / "cache")
    assert result.returncode == 0, result.stderr[-3000:]
    assert server.answered > 0
    summary = json.loads((tmp_path / "build" / "build.json").read_text(encoding="utf-8"))
    (paraphrase,) = summary["synthetic_sets"]
    assert paraphrase["rows"] == 0 and "no usable rows" in paraphrase["why_empty"]
    assert not summary["grid"] and not summary["decision"]["ship_synthetic"]
    assert "synthetic data helped" not in result.stdout
    assert not list((tmp_path / "build" / "work").rglob("paraphrase-t0.3.jsonl"))
