"""``synthgrade build``: the ship rule, and the whole job on a fake generator and a TF-IDF scorer (wiring, not quality)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.build import config, dataset
from helpers.llm_server import FakeChatServer

from synthgrade.build import BuildConfig, decide, load_build_data, run_build
from synthgrade.build.pipeline import per_group_rows
from synthgrade.build.stages.decide import DecideStage
from synthgrade.errors import SynthgradeError
from synthgrade.mix import feasible_share
from synthgrade.modeling import load_scorer


# -- the ship rule ----------------------------------------------------------------------------------------
def test_decide_ships_a_clear_gain_and_not_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    human = np.where(rng.random(400) < 0.70, y, 1 - y)  # 70 % right
    better = np.where(rng.random(400) < 0.90, y, 1 - y)  # 90 % right
    clear = decide(y, human, better, k=2, cells=4)
    assert clear.ship_synthetic and clear.lower_bound > 0 and clear.gain > 0.1
    noisy = np.where(rng.random(400) < 0.5, human, 1 - human)  # just as good on average, differently wrong
    assert not decide(y, human, human.copy(), k=2, cells=1).ship_synthetic  # identical predictions: gain 0
    assert not decide(y, human, noisy, k=2, cells=4).ship_synthetic


def test_decide_asks_more_the_more_cells_were_tried():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 120)
    human = np.where(rng.random(120) < 0.70, y, 1 - y)
    better = human.copy()
    wrong = np.flatnonzero(human != y)
    better[wrong[:9]] = y[wrong[:9]]  # fixes 9 of the human-only model's errors, breaks nothing
    few = decide(y, human, better, k=2, cells=1, bootstrap=4000)
    many = decide(y, human, better, k=2, cells=500, bootstrap=4000)
    assert few.lower_bound > many.lower_bound and many.level > few.level


def test_pooled_evidence_adds_out_of_fold_rows_both_models_predicted():
    from synthgrade.build.decision import pooled_evidence

    y_val, a_val, b_val = np.array([0, 1]), np.array([0, 0]), np.array([0, 1])
    labels = {"t1": 1, "t2": 0, "t3": 1}
    oof_a = {"ids": ["t1", "t2", "t3"], "pred": [1, 1, 0]}
    oof_b = {"ids": ["t3", "t1"], "pred": [1, 0]}  # t2 missing: only rows both predicted count
    y, a, b, n = pooled_evidence(y_val, a_val, b_val, labels, oof_a, oof_b)
    assert n == 2 and y.tolist() == [0, 1, 1, 1] and a.tolist() == [0, 0, 1, 0] and b.tolist() == [0, 1, 0, 1]
    assert pooled_evidence(y_val, a_val, b_val, labels, None, oof_b)[3] == 0  # a kind without folds: validation only


# -- the whole job ---------------------------------------------------------------------------------------
def test_build_end_to_end_then_resumes_without_new_calls(data_file: Path, server: FakeChatServer, tmp_path: Path):
    out = tmp_path / "build"
    result = run_build(data_file, out, config(server))
    summary = json.loads((out / "build.json").read_text())
    assert summary["verdict"] == result.verdict
    assert result.verdict.startswith(("synthetic data shipped", "synthetic data tested, not shipped"))
    assert summary["outcome"]["case"] in ("shipped", "not_shipped") and summary["outcome"]["text"] == result.verdict
    # Everything a user needs is there, and the shipped model works like any model directory.
    scorer = load_scorer(out / "model")
    test = pd.read_csv(out / "split" / "test.csv")
    assert scorer.predict_proba(test).shape == (len(test), 2)
    assert "build:test" in (out / "model" / "README.md").read_text()  # the test evaluation is on the model card
    html = (out / "report" / "index.html").read_text()
    assert html.index("class='verdict") < html.index("<table")  # the verdict comes first
    assert result.verdict in html.replace("&#x27;", "'")
    # The grid ran every (set, share, weight) and every model was scored once on the test rows.
    grid = [c for c in summary["grid"] if "val_macro_f1" in c]
    assert {c["set"] for c in grid} == {"paraphrase-t0.3", "contrast-t0.3"} and len(grid) == 4
    assert {c["weight"] for c in grid} == {0.5, 1.0}
    arms = summary["evaluation"]["tests"]["test"]
    assert set(arms) == {"human-only", "shipped", *(c["key"] for c in grid)}
    assert all("diff_vs_human_only" in arms[c["key"]] for c in grid)
    # Test rows never fed generation: no synthetic row was rewritten from, or shown, a test response.
    test_ids = set(test["id"].astype(str))
    for path in (out / "work" / "synthetic").glob("*.kept.jsonl"):
        kept = pd.read_json(path, lines=True, dtype=False)
        assert not set(kept.get("source_id", pd.Series(dtype=str)).dropna().astype(str)) & test_ids
    # Every dropped row is counted: generated = kept after cleaning + removed by cleaning; filter drops too.
    for entry in summary["synthetic_sets"]:
        assert entry["kept_after_cleaning"] == entry["rows"] + entry["filter_removed"]
        assert 0.0 <= entry["label_fidelity"] <= 1.0
    assert summary["human_only"]["spec"] == "tfidf" and summary["student"] is None  # nothing is cheaper than tfidf
    # The ship rule saw every human row no model was fitted on: validation plus out-of-fold training rows.
    train = pd.read_csv(out / "split" / "train.csv")
    val = pd.read_csv(out / "split" / "val.csv")
    assert summary["decision"]["evidence_rows"] == len(train) + len(val)
    assert "oof" not in json.dumps(summary["grid"]) and "val_pred" not in json.dumps(summary)

    calls = server.answered
    grid_before = (out / "work" / "grid.jsonl").read_text()
    again = run_build(data_file, out, config(server))
    assert server.answered == calls  # resumed: no new model calls
    assert (out / "work" / "grid.jsonl").read_text() == grid_before  # and no cell retrained
    assert again.verdict == result.verdict

    with pytest.raises(SynthgradeError, match="holds a build of other data or settings"):
        run_build(data_file, out, config(server, shares=[0.3]))


def test_a_killed_build_leaves_nothing_half_written_and_resumes(
    data_file: Path, server: FakeChatServer, tmp_path: Path, monkeypatch
):
    out = tmp_path / "build"
    original = DecideStage.run

    def killed(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(DecideStage, "run", killed)
    with pytest.raises(KeyboardInterrupt):
        run_build(data_file, out, config(server))
    assert not (out / "model").exists() and not (out / "build.json").exists() and not (out / "report").exists()
    assert not list(out.rglob("*.tmp"))  # no staging leftovers
    finished_cells = (out / "work" / "grid.jsonl").read_text()
    calls = server.answered
    monkeypatch.setattr(DecideStage, "run", original)
    result = run_build(data_file, out, config(server))
    assert (out / "work" / "grid.jsonl").read_text() == finished_cells and server.answered == calls
    assert (out / "model" / "synthgrade.json").exists() and result.report.exists()


def test_a_strategy_without_usable_rows_ships_human_only_with_a_reason(data_file: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    monkeypatch.setenv("SYNTHGRADE_CACHE", str(tmp_path / "cache"))
    with FakeChatServer(answer=lambda messages: "I cannot help with that.") as server:
        result = run_build(data_file, tmp_path / "build", config(server, strategies=["generate"], weights=[1.0]))
    assert not result.ship_synthetic and result.shipped == "human-only"
    assert result.verdict.startswith("synthetic data not tested: no synthetic row survived cleaning and the filter")
    assert result.summary["outcome"]["case"] == "not_tested"
    entry = result.summary["synthetic_sets"][0]
    assert entry["rows"] == 0 and entry["why_empty"]
    assert result.summary["grid"] == [] and result.decision["reason"] == "no augmented model was trained"


def test_build_refuses_bad_input_with_one_line_and_writes_nothing(tmp_path: Path, cli):
    frame = dataset(12)
    frame.loc[4, "label"] = None
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    result = cli("build", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "bad.csv" in result.stderr + result.stdout and "line 6" in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()
    other = tmp_path / "taken"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    frame = dataset(30)
    frame.to_csv(tmp_path / "ok.csv", index=False)
    taken = cli("build", str(tmp_path / "ok.csv"), "--out", str(other), "--model", "tfidf", "--strategies", "")
    assert taken.returncode == 2 and "is not a build folder" in taken.stderr + taken.stdout
    assert (other / "notes.txt").read_text() == "mine" and len(list(other.iterdir())) == 1


def test_generation_volume_follows_the_share_and_the_mix_never_asks_for_missing_rows():
    human = dataset(40)
    assert per_group_rows(human, ["correct", "incorrect"], 0.5, cap=50) >= 2
    assert per_group_rows(human, ["correct", "incorrect"], 0.8, cap=5) == 5
    synthetic = human.iloc[:6].assign(synthetic=True)  # 3 correct, 3 incorrect
    share = feasible_share(human, synthetic, 0.8, ["correct", "incorrect"])
    assert 0 < share < 0.8
    assert share / (1 - share) * 20 <= 3  # 20 human rows per label: no label asks for more than it has


def test_load_build_data_keeps_the_test_rows_apart(data_file: Path):
    bd = load_build_data(data_file, BuildConfig(test=0.25, val=0.25))
    ids = [set(bd.train["id"]), set(bd.val["id"]), set(bd.tests["test"]["id"])]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert sum(map(len, ids)) == 72


CHECK_SCRIPT = """<script>
const verdict = document.querySelector('.verdict'), table = document.querySelector('table');
const box = verdict.getBoundingClientRect();
const out = {verdict: verdict.textContent, top: box.top, height: box.height, tableTop: table.getBoundingClientRect().top,
             tables: document.querySelectorAll('table').length};
const pre = document.createElement('pre'); pre.id = 'render-check'; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def test_build_report_opens_in_a_browser_with_the_verdict_on_top(data_file: Path, server: FakeChatServer, tmp_path: Path):
    import html as html_lib
    import re
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("chromium is not installed (make test-setup installs it)")
    result = run_build(data_file, tmp_path / "build", config(server, weights=[1.0]))
    probe = tmp_path / "probe.html"
    probe.write_text(result.report.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="render-check">(.*?)</pre>', dom.stdout, re.S)
    assert match, f"chromium did not render the page: {dom.stderr[-500:]}"
    rendered = json.loads(html_lib.unescape(match.group(1)))
    assert rendered["verdict"] == result.verdict
    assert rendered["height"] > 0 and rendered["top"] < rendered["tableTop"] and rendered["top"] < 200
    assert rendered["tables"] >= 3  # test results, validation grid, synthetic sets


def test_load_build_data_refuses_a_test_file_with_synthetic_rows(data_file: Path, tmp_path: Path):
    test_file = tmp_path / "held-out.csv"
    # other texts than DATA's: the leakage guard compares texts
    held_out = dataset(8).assign(id=lambda f: "t" + f["id"].astype(str), text=lambda f: f["text"] + " held out")
    held_out.assign(synthetic=[False] * 7 + [True]).to_csv(test_file, index=False)
    with pytest.raises(SynthgradeError, match="held-out data contains 1 synthetic rows"):
        load_build_data(data_file, BuildConfig(val=0.25), test=test_file)
    test_file.write_text(test_file.read_text().replace("True", "False"))
    assert len(load_build_data(data_file, BuildConfig(val=0.25), test=test_file).tests["held-out"]) == 8


def test_the_stage_list_is_written_once_and_each_stage_reads_only_what_an_earlier_stage_produced():
    from dataclasses import fields

    from synthgrade.build import STAGES
    from synthgrade.build.records import BuildState
    from synthgrade.build.stages import PIPELINE

    assert STAGES == tuple(stage.name for stage in PIPELINE) and len(set(STAGES)) == len(PIPELINE)
    produced: set[str] = set()
    for stage in PIPELINE:
        assert set(stage.reads) <= produced, f"{stage.name} reads {set(stage.reads) - produced} before a stage produced it"
        produced |= set(stage.produces)
    assert produced == {field.name for field in fields(BuildState)}  # every record has a stage that makes it
