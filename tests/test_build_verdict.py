"""The build's verdict says what was tested: not tested (why, what to do), tested and not shipped, shipped (per test set).

Tiny builds on the built-in example set with ``--model tfidf`` and a fake generator on loopback, so each
case runs in seconds; the wording rules are also checked directly on made-up evaluations.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from helpers.llm_server import FakeChatServer

from synthgrade.build import BuildConfig, run_build
from synthgrade.build.budget import grid_seconds_per_set, plan_generation
from synthgrade.build.verdict import build_verdict, interval_wording
from synthgrade.demo import EXAMPLE_SET

EXAMPLE = pd.read_csv(EXAMPLE_SET)
LABEL_OF = dict(zip(EXAMPLE["text"].str.strip(), EXAMPLE["label"], strict=True))
EFFECTIVE = [
    "What did you do first with 3/4 and 1/2? Walk me through it.",
    "Could you draw both fractions so we can look at them together?",
    "Before we move on, how could we check whether 4/6 makes sense?",
    "Is 4/6 more or less than 3/4? What do you notice?",
    "Tell me how you thought about the bottom numbers.",
    "Can you estimate the sum first and compare it with 4/6?",
]
INEFFECTIVE = [
    "That is wrong, the answer is 5/4.",
    "No, you have to find a common denominator first.",
    "Wrong again, you always rush through fractions.",
    "Just add 3/4 and 2/4 and you get 5/4, easy.",
    "Nope, you cannot add the bottoms, that is not how it works.",
    "You made a mistake; the correct sum is one and a quarter.",
]
QUIET = ("UNEXPECTED", "LOAD REPORT", "Warning", "deprecated", "de-quantizing")


def _target_label(text: str) -> str:
    wanted = re.search(r"scored (\w+) instead", text)
    if wanted:
        return wanted.group(1)
    source = re.search(r"Student answer:\n(.*?)\n", text)
    return LABEL_OF.get(source.group(1).strip(), "effective") if source else "effective"


def tutor_rewrites(messages: list[dict]) -> str:
    """Five numbered responses in the vocabulary of the label the prompt asks for, different per prompt."""
    text = messages[-1]["content"]
    pool = EFFECTIVE if _target_label(text) == "effective" else INEFFECTIVE
    start = hashlib.sha256(text.encode()).digest()[0]
    return "\n".join(f"{k + 1}. {pool[(start + k) % len(pool)]}" for k in range(5))


@pytest.fixture
def generator(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "cache"))
    with FakeChatServer(answer=tutor_rewrites) as running:
        yield running


def tiny(server: FakeChatServer, **overrides) -> BuildConfig:
    settings = {
        "labels": ["effective", "ineffective"],
        "test": 0.3,
        "model": "tfidf",
        "backend": "openai",
        "generator": "fake-model",
        "base_url": server.base_url,
        "strategies": ["paraphrase"],
        "shares": [0.5],
        "weights": [0.5, 1.0],
        "bootstrap": 200,
        "max_per_group": 5,
    }
    return BuildConfig(**(settings | overrides))


def check_everywhere(result, out: Path, console_text: str) -> dict:
    """The verdict is the console's bold line, the report's first line and build.json's, word for word."""
    summary = json.loads((out / "build.json").read_text())
    assert summary["verdict"] == result.verdict == summary["outcome"]["text"]
    page = (out / "report" / "index.html").read_text()
    body = page[page.index("<body") :]
    first = re.search(r"<div class='verdict[^']*'>(.*?)</div>", body, re.S)
    assert first and body.index(first.group(0)) < body.index("<table") and body.index(first.group(0)) < body.index("<h2")
    assert html.unescape(first.group(1)) == result.verdict
    assert result.verdict in console_text
    assert "What to try next" in page and "README" in page
    for word in QUIET:
        assert word not in console_text, f"{word!r} in the build's console output"
    return summary


def test_not_tested_when_no_row_survives_says_why_and_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "cache"))
    with FakeChatServer(answer=lambda messages: "I cannot help with that.") as server:
        result = run_build(EXAMPLE_SET, tmp_path / "build", tiny(server))
    summary = check_everywhere(result, tmp_path / "build", capsys.readouterr().err)
    assert summary["outcome"]["case"] == "not_tested" and not result.ship_synthetic
    assert result.verdict.startswith("synthetic data not tested: no synthetic row survived")
    assert "did not help" not in result.verdict  # nothing was tested, so nothing is claimed
    assert any("--backend openai" in step["text"] for step in summary["outcome"]["next_steps"])


def test_not_tested_when_the_generator_fails_says_so_without_waiting_out_the_budget(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "cache"))
    with FakeChatServer(script=["400"] * 50, answer=tutor_rewrites) as server:
        result = run_build(EXAMPLE_SET, tmp_path / "build", tiny(server, strategies=["paraphrase", "contrast"]))
        answered = server.requests
    summary = check_everywhere(result, tmp_path / "build", capsys.readouterr().err)
    assert summary["outcome"]["case"] == "not_tested"
    assert "the generator failed" in result.verdict and "http_400" in result.verdict
    assert answered <= 4  # the probe's calls only: no set is generated against a failing generator
    assert [s["skipped"] for s in summary["synthetic_sets"]] == ["generator failed", "generator failed"]


def test_not_tested_when_the_time_budget_is_spent(generator, tmp_path, capsys):
    result = run_build(EXAMPLE_SET, tmp_path / "build", tiny(generator, time_budget=0.001))
    summary = check_everywhere(result, tmp_path / "build", capsys.readouterr().err)
    assert summary["outcome"]["case"] == "not_tested"
    assert "time budget" in result.verdict and "--time-budget" in result.verdict
    assert summary["synthetic_sets"][0]["skipped"] == "time budget" and summary["grid"] == []
    assert any("time budget" in step["text"] for step in summary["outcome"]["next_steps"])


def test_tested_not_shipped_gives_cells_gain_and_bound(generator, tmp_path, capsys):
    # A margin no gain on 16 + 40 held-out rows can clear: the models are trained and judged, then not shipped.
    result = run_build(EXAMPLE_SET, tmp_path / "build", tiny(generator, margin=0.9))
    summary = check_everywhere(result, tmp_path / "build", capsys.readouterr().err)
    decision = summary["decision"]
    assert summary["outcome"]["case"] == "not_shipped" and decision["cells"] == 2 and not result.ship_synthetic
    assert result.verdict.startswith("synthetic data tested, not shipped: 2 augmented model(s) trained")
    assert f"{decision['validation_gain']:+.3f}" in result.verdict and f"{decision['lower_bound']:+.3f}" in result.verdict


def test_shipped_words_the_test_difference_by_its_interval(generator, tmp_path, capsys, monkeypatch):
    from synthgrade.build.stages import decide as decide_stage

    real = decide_stage.decide
    # The rule is tested elsewhere; here it ships any augmented model, so the shipped wording is reached.
    monkeypatch.setattr(decide_stage, "decide", lambda *args, **kwargs: real(*args, **(kwargs | {"margin": -1.0})))
    result = run_build(EXAMPLE_SET, tmp_path / "build", tiny(generator))
    summary = check_everywhere(result, tmp_path / "build", capsys.readouterr().err)
    assert summary["outcome"]["case"] == "shipped" and result.ship_synthetic
    diff = summary["evaluation"]["tests"]["test"]["shipped"]["diff_vs_human_only"]["macro_f1"]
    wording = interval_wording(diff)
    assert summary["outcome"]["tests"]["test"]["wording"] == wording
    assert f"test: {wording}, {diff['value']:+.3f} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}]" in result.verdict


def _entry(value: float, low: float, high: float) -> dict:
    return {"diff_vs_human_only": {"macro_f1": {"value": value, "ci_low": low, "ci_high": high}}}


def test_shipped_verdict_words_every_test_set_by_its_own_interval():
    decision = {"ship_synthetic": True, "cells": 4, "best_cell": "p-s0.5-w1", "shipped": "p-s0.5-w1", "level": 0.9875}
    decision |= {"validation_gain": 0.08, "lower_bound": 0.01}
    evaluation = {
        "tests": {
            "answers": {"shipped": _entry(0.05, 0.01, 0.09)},
            "questions": {"shipped": _entry(-0.021, -0.06, 0.02)},
            "domains": {"shipped": _entry(-0.05, -0.09, -0.01)},
        }
    }
    verdict = build_verdict(decision, evaluation, [{"name": "p", "rows": 9}], [{"key": "p-s0.5-w1", "val_macro_f1": 0.9}], {})
    assert verdict.case == "shipped"
    assert "answers: helped, +0.050 [+0.010, +0.090]" in verdict.text
    assert "questions: no clear difference on the test rows, -0.021 [-0.060, +0.020]" in verdict.text
    assert "domains: worse on the test rows, -0.050 [-0.090, -0.010]" in verdict.text
    assert {k: v["wording"] for k, v in verdict.tests.items()} == {
        "answers": "helped",
        "questions": "no clear difference on the test rows",
        "domains": "worse on the test rows",
    }
    assert "helped" not in verdict.text.split("questions")[1]  # the old verdict said "helped" whatever the interval


def test_not_tested_verdict_names_a_failed_generator():
    decision = {"ship_synthetic": False, "cells": 0}
    sets = [{"name": "paraphrase-t0.3", "generated": 0, "rows": 0, "calls_failed": 6, "call_failures": {"connection_error": 6}}]
    verdict = build_verdict(decision, {"tests": {}}, sets, [], {"time_budget": 15})
    assert verdict.case == "not_tested" and "the generator failed" in verdict.text and "connection_error" in verdict.text


def test_the_grid_keeps_its_share_of_the_budget():
    grid_per_set = grid_seconds_per_set(human_fit_s=10.0, shares=[0.5], weights=[0.5, 1.0])
    assert grid_per_set == pytest.approx(40.0)  # two cells, each twice the human rows
    # 10 minutes left, 2 sets, 2 groups each, 5 rows per call, 12 rows wanted, 30 s a call measured.
    plan = plan_generation(600.0, 2, 2, 5, 12, 30.0, grid_per_set)
    assert plan.sets == 2 and plan.grid_s == pytest.approx(80.0)
    assert plan.max_requests * plan.seconds_per_call * plan.sets <= plan.generation_s  # generation ends in time
    assert plan.per_label == 12 and "every synthetic set fits" in plan.describe()
    slow = plan_generation(400.0, 2, 2, 5, 12, 60.0, grid_per_set)  # 60 s a call: fewer rows, both sets
    assert slow.sets == 2 and slow.per_label == 5 and slow.max_requests * 60.0 * 2 <= slow.generation_s
    slower = plan_generation(400.0, 2, 2, 5, 12, 100.0, grid_per_set)  # only one set still gets a call per group
    assert slower.sets == 1 and "1 of 2 synthetic sets fit" in slower.describe()
    assert plan_generation(60.0, 2, 2, 5, 12, 100.0, grid_per_set).sets == 0
    cached = plan_generation(600.0, 2, 2, 5, 12, None, grid_per_set)  # the probe came from the cache
    assert cached.sets == 2 and cached.per_label == 12 and cached.max_requests is None
