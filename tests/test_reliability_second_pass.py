"""Issue 24, the second hostile pass, through the real command line: nothing lost, nothing leaked, honest exit codes.

Each test reproduces one probe of the issue (numbered as there) on the built-in example set with
``--model tfidf --strategies ''`` unless it needs a generator, and fails on the code before the fix.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers.cli import run_cli
from helpers.llm_server import FakeChatServer

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "synthgrade" / "examples" / "tutor-errors" / "responses.csv"
QUICK_BUILD = ("--model", "tfidf", "--strategies", "")
TFIDF = ("--model", "tfidf")


def fails_cleanly(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for needle in needles:
        assert needle in result.stderr, result.stderr[-3000:]


def snapshot(*paths: Path) -> dict[str, str]:
    """sha256 of every file under ``paths`` (files or folders): 'byte-identical' made checkable."""
    digests = {}
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            digests[str(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
    return digests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory) -> Path:
    """The example set split into train/val/test CSVs."""
    out = tmp_path_factory.mktemp("split") / "split"
    result = run_cli("split", EXAMPLE, "--out", out, "--val", "0.25", "--test", "0.25")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def trained(split_dir: Path, tmp_path_factory) -> Path:
    """A tfidf model trained on the example's training split (tests copy it before damaging it)."""
    out = tmp_path_factory.mktemp("model") / "model"
    result = run_cli("train", "--human", split_dir / "train.csv", "--val", split_dir / "val.csv", "--out", out, *TFIDF)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def model(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(trained, copy)
    return copy


# -- 1. evaluate must not destroy the model it evaluates ------------------------------------------------


def test_1_evaluate_refuses_an_out_inside_the_model_it_evaluates(model: Path, split_dir: Path, tmp_path: Path, cli) -> None:
    before = snapshot(model)
    result = cli("evaluate", model, split_dir / "test.csv", "--out", model / "synthgrade.json", "--overwrite")
    fails_cleanly(result, "would overwrite the input")
    assert snapshot(model) == before
    scored = cli("predict", model, split_dir / "test.csv", "--out", tmp_path / "scored.csv")
    assert scored.returncode == 0, scored.stderr


# -- 2 (and 10): build --overwrite never deletes its own input; a small test split is named -----------------


def test_2_build_overwrite_refuses_to_delete_its_own_input(tmp_path: Path, cli) -> None:
    out = tmp_path / "build"
    first = cli("build", EXAMPLE, "--out", out, *QUICK_BUILD)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "the test set has only" in first.stderr  # 16 test rows: said out loud (item 10)
    rebuilt_from = out / "split" / "train.csv"
    before = snapshot(rebuilt_from)
    result = cli("build", rebuilt_from, "--out", out, "--overwrite", *QUICK_BUILD)
    fails_cleanly(result, "would delete the input", str(rebuilt_from))
    assert snapshot(rebuilt_from) == before


# -- 3. interrupts exit 130 (SIGINT) and 143 (SIGTERM), after the resume line ---------------------------------


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_3_an_interrupted_build_exits_128_plus_the_signal(stop: signal.Signals, tmp_path: Path) -> None:
    with FakeChatServer(delay=2.0) as server:  # slow answers: the build is generating when the signal comes
        command = [
            sys.executable, "-m", "synthgrade.cli", "build", str(EXAMPLE), "--out", str(tmp_path / "build"),
            "--model", "tfidf", "--strategies", "paraphrase", "--backend", "openai", "--generator", "fake-model",
            "--base-url", server.base_url,
        ]  # fmt: skip
        env = {**__import__("os").environ, "SYNTHGRADE_CACHE": str(tmp_path / "cache")}
        process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        seen = []
        deadline = time.time() + 300
        for line in process.stderr:
            seen.append(line)
            if "generating paraphrase" in line or time.time() > deadline:
                break
        time.sleep(1.0)
        process.send_signal(stop)
        rest, _ = process.communicate(timeout=60)[::-1]
    stderr = "".join(seen) + rest
    assert process.returncode == 128 + stop, stderr[-3000:]
    assert "Traceback" not in stderr
    resume = stderr.index("run the same command again to resume")
    assert stderr.index("interrupted", resume) > resume  # the exit follows the resume line


# -- 4. one leakage guard on normalised text, not ids --------------------------------------------------------


def test_4_validation_rows_under_other_ids_or_none_are_refused(split_dir: Path, tmp_path: Path, cli) -> None:
    train = pd.read_csv(split_dir / "train.csv")
    renamed = train.assign(id=[f"new-{i}" for i in range(len(train))], text=train["text"].str.upper())
    for name, frame in (("renamed.csv", renamed), ("no-ids.csv", train.drop(columns="id"))):
        frame.to_csv(tmp_path / name, index=False)
        result = cli("train", "--human", split_dir / "train.csv", "--val", tmp_path / name, "--out", tmp_path / "m", *TFIDF)
        fails_cleanly(result, f"{len(train)} of the {len(train)} validation rows repeat a text of the training data")
        assert not (tmp_path / "m").exists()


def _input_without_test(split_dir: Path, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """The example's train + val rows as a build's input, and its test rows (held out from that input)."""
    data = pd.concat([pd.read_csv(split_dir / "train.csv"), pd.read_csv(split_dir / "val.csv")])
    data.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path / "data.csv", pd.read_csv(split_dir / "test.csv")


def test_4_build_refuses_a_test_file_that_repeats_input_rows(split_dir: Path, tmp_path: Path, cli) -> None:
    data, test = _input_without_test(split_dir, tmp_path)
    copies = pd.read_csv(data).head(10).assign(id=lambda f: "copy-" + f["id"])
    pd.concat([test, copies]).to_csv(tmp_path / "test.csv", index=False)
    result = cli("build", data, "--test", tmp_path / "test.csv", "--out", tmp_path / "build", *QUICK_BUILD)
    fails_cleanly(result, f"10 of the {len(test) + 10} --test rows repeat a text of the input data")
    assert not (tmp_path / "build").exists()


def test_4_evaluate_and_generate_use_the_same_guard(model: Path, split_dir: Path, tmp_path: Path, cli) -> None:
    test = pd.read_csv(split_dir / "test.csv")
    test.assign(id="x" + test["id"]).to_csv(tmp_path / "examples.csv", index=False)
    result = cli("evaluate", model, split_dir / "test.csv", "--out", tmp_path / "m.json", "--train", tmp_path / "examples.csv")
    fails_cleanly(result, f"{len(test)} of the {len(test)} test rows repeat a text of the --train example data")
    train = pd.read_csv(split_dir / "train.csv")
    train.drop(columns="id").to_csv(tmp_path / "held-out.csv", index=False)
    result = cli(
        "generate", split_dir / "train.csv", "--out", tmp_path / "synthetic.jsonl", "--exclude", tmp_path / "held-out.csv",
        "--backend", "openai", "--model", "m", "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--embedder", "none",
    )  # fmt: skip
    fails_cleanly(result, "--exclude #1 rows repeat a text of the training data")


# -- 5. a dead generator server is a non-zero exit within 30 s ------------------------------------------------


def test_5_generate_against_a_dead_server_fails_fast(split_dir: Path, tmp_path: Path, cli) -> None:
    started = time.perf_counter()
    result = cli(
        "generate", split_dir / "train.csv", "--out", tmp_path / "synthetic.jsonl", "--backend", "openai", "--model", "m",
        "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--embedder", "none", "--no-progress", "--cache", tmp_path / "cache",
    )  # fmt: skip
    fails_cleanly(result, "cannot connect", "is the server running?")
    assert time.perf_counter() - started < 30
    assert not (tmp_path / "synthetic.jsonl").exists()


# -- 6. an unreachable Ray address fails within 60 s, before any stage ----------------------------------------


def test_6_build_with_an_unreachable_ray_address_fails_before_any_stage(tmp_path: Path, cli) -> None:
    started = time.perf_counter()
    address = f"ray://127.0.0.1:{free_port()}"
    result = cli("build", EXAMPLE, "--out", tmp_path / "build", "--executor", "ray", "--address", address, *QUICK_BUILD)
    fails_cleanly(result, f"{address}: no Ray cluster answers there")
    assert time.perf_counter() - started < 60
    assert not (tmp_path / "build").exists()


# -- 7. secrets: no key in a file, OPENAI_API_KEY only to OpenAI, the server in the cache key ------------------


def _generate(train: Path, out: Path, base_url: str, cache: Path, *extra: str, env: dict | None = None):
    return run_cli(
        "generate", train, "--out", out, "--backend", "openai", "--model", "fake-model", "--base-url", base_url,
        "--per-label", "2", "--per-call", "2", "--embedder", "none", "--no-progress", "--cache", cache, *extra, env=env,
    )  # fmt: skip


def test_7_a_key_in_the_base_url_query_never_reaches_a_file(split_dir: Path, tmp_path: Path) -> None:
    secret = "sk-query-SECRET-24"
    with FakeChatServer() as server:
        result = _generate(split_dir / "train.csv", tmp_path / "s.jsonl", f"{server.base_url}?api_key={secret}", tmp_path / "c")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "api_key=***" in (tmp_path / "s.summary.json").read_text(encoding="utf-8")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in result.stdout + result.stderr


def test_7_openai_api_key_goes_only_to_openai_unless_a_variable_is_named(split_dir: Path, tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-openai-SECRET", "OTHER_SERVER_KEY": "other-key"}
    with FakeChatServer() as server:
        plain = _generate(split_dir / "train.csv", tmp_path / "a.jsonl", server.base_url, tmp_path / "c1", env=env)
        named = _generate(
            split_dir / "train.csv",
            tmp_path / "b.jsonl",
            server.base_url,
            tmp_path / "c2",
            "--api-key-env",
            "OTHER_SERVER_KEY",
            env=env,
        )
    assert plain.returncode == 0 and named.returncode == 0, plain.stderr[-2000:] + named.stderr[-2000:]
    assert server.authorizations and not any("sk-openai-SECRET" in (a or "") for a in server.authorizations)
    assert "Bearer other-key" in server.authorizations
    assert "plain HTTP" in named.stderr and "plain HTTP" not in plain.stderr


def test_7_two_servers_serving_one_model_name_do_not_share_cached_answers(split_dir: Path, tmp_path: Path) -> None:
    summaries = []
    for name in ("first", "second"):
        with FakeChatServer() as server:
            result = _generate(split_dir / "train.csv", tmp_path / f"{name}.jsonl", server.base_url, tmp_path / "cache")
        assert result.returncode == 0, result.stderr[-2000:]
        summaries.append(json.loads((tmp_path / f"{name}.summary.json").read_text(encoding="utf-8")))
    assert summaries[0]["model_calls"] > 0
    assert summaries[1]["model_calls"] == summaries[0]["model_calls"] and summaries[1]["cache_hits"] == 0


# -- 8. --candidates names are checked up front ----------------------------------------------------------------


def test_8_unknown_candidates_are_one_line_listing_the_known_names(split_dir: Path, tmp_path: Path, cli) -> None:
    started = time.perf_counter()
    result = cli(
        "train", "--human", split_dir / "train.csv", "--val", split_dir / "val.csv", "--out", tmp_path / "m",
        "--model", "auto", "--candidates", "tfidf,minilm",
    )  # fmt: skip
    fails_cleanly(result, "--candidates names unknown models minilm; known: tfidf, ", "hybrid:minilm-l6")
    assert "--time-budget" not in result.stderr
    assert time.perf_counter() - started < 30  # no model-hub retries


# -- 9. a validation label absent from training ----------------------------------------------------------------


def test_9_a_validation_label_without_training_rows_is_refused(split_dir: Path, tmp_path: Path, cli) -> None:
    val = pd.read_csv(split_dir / "val.csv")
    val.loc[0, "label"] = "brand-new-label"
    val.to_csv(tmp_path / "val.csv", index=False)
    result = cli("train", "--human", split_dir / "train.csv", "--val", tmp_path / "val.csv", "--out", tmp_path / "m", *TFIDF)
    fails_cleanly(result, "validation label(s) brand-new-label have no training rows")


# -- 10. degenerate data is named ---------------------------------------------------------------------------------


def test_10_one_class_test_sets_and_one_row_labels_are_warned_about(model: Path, split_dir: Path, tmp_path: Path, cli) -> None:
    test = pd.read_csv(split_dir / "test.csv")
    one_class = test[test["label"] == test["label"].iloc[0]]
    one_class.to_csv(tmp_path / "one-class.csv", index=False)
    result = cli("evaluate", model, tmp_path / "one-class.csv", "--out", tmp_path / "m.json", "--bootstrap", "100")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"every test row has the label '{test['label'].iloc[0]}': macro-F1" in result.stderr
    assert "not meaningful" in result.stderr
    assert any("not meaningful" in w for w in json.loads((tmp_path / "m.json").read_text())["warnings"])
    rare = pd.concat([test, test.head(1).assign(label="rare", id="rare-1")])
    rare.to_csv(tmp_path / "rare.csv", index=False)
    validated = cli("validate", tmp_path / "rare.csv")
    assert validated.returncode == 0
    assert "label 'rare' has only one row" in validated.stderr and "(0 warnings)" not in validated.stdout


# -- 11. damaged models and odd outputs: one line, exit 2 -----------------------------------------------------


def test_11_a_label_list_shorter_than_the_weights_is_one_line(model: Path, split_dir: Path, tmp_path: Path, cli) -> None:
    meta = json.loads((model / "synthgrade.json").read_text(encoding="utf-8"))
    meta["labels"] = meta["labels"][:1]
    (model / "synthgrade.json").write_text(json.dumps(meta), encoding="utf-8")
    fails_cleanly(cli("predict", model, split_dir / "test.csv", "--out", tmp_path / "p.csv"), "damaged tfidf model")


def test_11_an_empty_weights_file_is_exit_2_not_an_interrupt(model: Path, split_dir: Path, tmp_path: Path, cli) -> None:
    (model / "logistic.npz").write_bytes(b"")
    result = cli("predict", model, split_dir / "test.csv", "--out", tmp_path / "p.csv")
    fails_cleanly(result, "damaged tfidf model files")
    assert "aborted" not in result.stderr


def test_11_an_out_that_is_a_folder_is_one_line(model: Path, split_dir: Path, tmp_path: Path, cli) -> None:
    (tmp_path / "dir.csv").mkdir()
    fails_cleanly(cli("predict", model, split_dir / "test.csv", "--out", tmp_path / "dir.csv", "--overwrite"), "is a folder")


# -- 12. the smaller ones ----------------------------------------------------------------------------------------


def test_12_brackets_in_messages_survive(tmp_path: Path, cli) -> None:
    result = cli("validate", tmp_path / "nofile[client].csv")
    fails_cleanly(result, "nofile[client].csv")


def test_12_build_refuses_a_test_label_the_data_lacks_before_writing(split_dir: Path, tmp_path: Path, cli) -> None:
    data, test = _input_without_test(split_dir, tmp_path)
    test.loc[0, "label"] = "unheard-of"
    test.to_csv(tmp_path / "test.csv", index=False)
    result = cli("build", data, "--test", tmp_path / "test.csv", "--out", tmp_path / "build", *QUICK_BUILD)
    fails_cleanly(result, "test.csv line 2: label 'unheard-of' is not one of")
    assert not (tmp_path / "build").exists()


def test_12_messages_name_flags_and_values_as_given(split_dir: Path, tmp_path: Path, cli) -> None:
    built = cli("build", EXAMPLE, "--out", tmp_path / "build", "--time-budget", "-1", *QUICK_BUILD)
    fails_cleanly(built, "--time-budget")
    assert "time_budget" not in built.stderr
    trained = cli(
        "train", "--human", split_dir / "train.csv", "--val", split_dir / "val.csv", "--out", tmp_path / "m",
        "--time-budget", "-1",
    )  # fmt: skip
    fails_cleanly(trained, "--time-budget must be positive (minutes), got -1")
    assert "-60" not in trained.stderr
    long_text = cli("validate", EXAMPLE, "--max-chars", "20")
    assert long_text.returncode == 2 and "max_chars" not in long_text.stderr, long_text.stderr[-2000:]


def test_12_auto_with_one_candidate_does_not_claim_a_race(split_dir: Path, tmp_path: Path, cli) -> None:
    result = cli(
        "train", "--human", split_dir / "train.csv", "--val", split_dir / "val.csv", "--out", tmp_path / "m",
        "--model", "auto", "--candidates", "tfidf",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "clearly ahead of the others" not in result.stderr
    assert "tfidf is the only candidate trained" in result.stderr
