"""Sweep machinery with fake trial and synthetic functions: config, planning, keys, store, resume, sharing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers.sweep import CALLS_ENV, config_dict, fake_synthetic, fake_trial

from synthgrade.errors import SynthgradeError
from synthgrade.experiment import (
    LocalExecutor,
    ProcessExecutor,
    ResultsStore,
    TrialSpec,
    load_sweep_config,
    plan_sweep,
    plan_trials,
    run_sweep,
    sweep_config_from_dict,
    synthetic_path,
)
from synthgrade.experiment.data import human_rows


def failing_trial(spec: TrialSpec) -> dict:
    if spec.params["ratio"] == 0.5:
        raise SynthgradeError("ratio 0.5 cannot be mixed")
    return fake_trial(spec)


# --- configuration -----------------------------------------------------------------------------


def test_yaml_config_loads_with_relative_paths(tmp_path, fixtures):
    (tmp_path / "data.csv").write_bytes((fixtures / "civics.csv").read_bytes())
    path = tmp_path / "sweep.yaml"
    path.write_text("data:\n  path: data.csv\nmix:\n  ratios: [0, 0.8]\nseeds: [0, 1, 2]\n")
    config = load_sweep_config(path)
    assert config.resolve_path(config.data.path) == tmp_path.resolve() / "data.csv"
    assert config.mix.ratios == [0.0, 0.8] and config.seeds == [0, 1, 2]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("data:\n  path: a.csv\nmix:\n  ratoi: [0.5]\n", "unknown key 'mix.ratoi'"),
        ("mix:\n  ratios: [0.5]\n", "missing required key 'data'"),
        ("data:\n  path: a.csv\nmix:\n  ratios: [0.2, 1.5]\n", "mix.ratios: ratio 1.5 is outside 0..1"),
        ("data:\n  path: a.csv\nmix:\n  ratios: [0, 1.0]\n", "mix: ratio 1.0 (synthetic only) needs mode: fixed-total"),
        ("data:\n  path: a.csv\ngeneration:\n  temperatures: [0.3, 3]\n", "generation.temperatures: temperature 3.0 is outside"),
        ("data:\n  path: a.csv\nseeds: [0, 0]\n", "seeds: lists a value twice"),
        ("data:\n  path: a.csv\nhuman_budgets: [0]\n", "human_budgets: human budget 0 must be at least 1"),
        ("data:\n  path: a.csv\nseeds: zero\n", "seeds: Input should be a valid list"),
        ("data: [1, 2\n", "invalid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_config_errors_name_the_bad_key_in_one_line(tmp_path, yaml_text, expected):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml_text)
    with pytest.raises(SynthgradeError) as info:
        load_sweep_config(path)
    message = str(info.value)
    assert expected in message and str(path) in message
    assert "\n" not in message


def test_missing_config_file_is_one_line(tmp_path):
    with pytest.raises(SynthgradeError, match="no such sweep config"):
        load_sweep_config(tmp_path / "nope.yaml")


# --- planning and keys -------------------------------------------------------------------------


def test_plan_is_the_deduplicated_cross_product(fixtures):
    config = sweep_config_from_dict(config_dict(fixtures))
    plan = plan_trials(config)
    # per seed: 1 human-only trial (temperature and filter do not change it) + 2 ratios x 2 temps x 2 filters
    assert len(plan.trials) == 2 * (1 + 2 * 2 * 2)
    assert len({t.key for t in plan.trials}) == len(plan.trials)
    human_only = [t for t in plan.trials if t.params["ratio"] == 0]
    assert len(human_only) == 2 and all(t.synthetic_key is None and t.params["temperature"] is None for t in human_only)
    # synthetic sets: one per (temperature, seed, filter), shared by both ratios
    assert len(plan.synthetic) == 2 * 2 * 2
    by_set = {}
    for trial in plan.trials:
        if trial.synthetic_key:
            by_set.setdefault(trial.synthetic_key, set()).add(trial.params["ratio"])
    assert all(ratios == {0.5, 0.8} for ratios in by_set.values())
    # filtered and unfiltered sets of the same generation share the generation key
    generations = {(s.temperature, s.seed): set() for s in plan.synthetic}
    for spec in plan.synthetic:
        generations[(spec.temperature, spec.seed)].add(spec.generation_key)
    assert all(len(keys) == 1 for keys in generations.values())


def test_trial_keys_are_stable_and_depend_only_on_the_effective_config(fixtures):
    first = plan_trials(sweep_config_from_dict(config_dict(fixtures)))
    again = plan_trials(sweep_config_from_dict(config_dict(fixtures)))
    assert [t.key for t in first.trials] == [t.key for t in again.trials]
    # adding a seed adds trials but keeps the existing keys
    more = plan_trials(sweep_config_from_dict(config_dict(fixtures, seeds=[0, 1, 2])))
    assert {t.key for t in first.trials} < {t.key for t in more.trials}
    # the generation concurrency changes speed, not results: same keys
    faster = config_dict(fixtures)
    faster["generation"] = {"temperatures": [0.3, 0.9], "concurrency": 16}
    assert [t.key for t in plan_trials(sweep_config_from_dict(faster)).trials] == [t.key for t in first.trials]
    # the teacher's learning rate changes every trial
    changed = plan_trials(sweep_config_from_dict(config_dict(fixtures, teacher={"lr": 1e-4})))
    assert not {t.key for t in first.trials} & {t.key for t in changed.trials}


def test_dry_run_plan_estimates_cost(fixtures):
    plan = plan_sweep(sweep_config_from_dict(config_dict(fixtures)))
    assert plan.data is not None and plan.data.train_rows > 0
    assert all(t.estimated_s > 0 for t in plan.trials)
    assert plan.estimated_s > sum(t.estimated_s for t in plan.trials)  # generation costs time too
    # more synthetic rows cost more training time
    by_ratio = {t.params["ratio"]: t.estimated_s for t in plan.trials if t.params["seed"] == 0}
    assert by_ratio[0.8] > by_ratio[0.5] > by_ratio[0.0]


def test_auto_per_label_covers_the_largest_ratio(fixtures):
    plan = plan_sweep(sweep_config_from_dict(config_dict(fixtures, filter={"modes": ["off"]})))
    data = plan.data
    per_label = plan.synthetic[0].generation["per_label"]
    assert per_label >= 0.8 / 0.2 * data.max_label_rows


def test_human_budget_is_stratified_per_item():
    import pandas as pd

    frame = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(60)],
            "text": [f"t{i}" for i in range(60)],
            "label": (["a"] * 20 + ["b"] * 10) * 2,
            "item_id": ["q1"] * 30 + ["q2"] * 30,
        }
    )
    chosen = human_rows(frame, 6, seed=3)
    assert chosen.groupby("item_id").size().tolist() == [6, 6]
    assert chosen.groupby(["item_id", "label"]).size().tolist() == [4, 2, 4, 2]
    assert chosen["id"].tolist() == human_rows(frame, 6, seed=3)["id"].tolist()
    assert chosen["id"].tolist() != human_rows(frame, 6, seed=4)["id"].tolist()
    assert len(human_rows(frame, "all", seed=0)) == 60


# --- results store -----------------------------------------------------------------------------


def test_store_appends_whole_lines_and_ignores_a_partial_tail(tmp_path):
    store = ResultsStore(tmp_path / "trials.jsonl")
    store.append({"key": "a", "v": 1})
    store.append({"key": "b", "v": 2})
    with open(store.path, "ab") as handle:  # a kill in the middle of a write
        handle.write(b'{"key": "c", "v"')
    rows = store.load()
    assert set(rows) == {"a", "b"} and store.ignored_partial
    store.append({"key": "c", "v": 3})
    lines = store.path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b", "c"]
    assert set(ResultsStore(store.path).load()) == {"a", "b", "c"}


def test_store_skips_and_counts_corrupt_lines(tmp_path):
    path = tmp_path / "trials.jsonl"
    path.write_text('{"key": "a"}\nnot json\n{"no_key": 1}\n')
    store = ResultsStore(path)
    assert set(store.load()) == {"a"} and store.bad_lines == [2, 3]


def test_store_refuses_nan(tmp_path):
    store = ResultsStore(tmp_path / "t.jsonl")
    store.append({"key": "a", "v": float("nan")})  # NaN becomes null, the line stays valid JSON
    assert store.load()["a"]["v"] is None


# --- running -------------------------------------------------------------------------------------


def test_sweep_runs_resumes_and_shares_synthetic_sets(tmp_path, fixtures, monkeypatch):
    calls = tmp_path / "calls.log"
    monkeypatch.setenv(CALLS_ENV, str(calls))
    config = sweep_config_from_dict(config_dict(fixtures))
    run_dir = tmp_path / "run"
    result = run_sweep(config, run_dir, trial_fn=fake_trial, synthetic_fn=fake_synthetic, show_progress=False)
    assert result.complete and len(result.ran) == len(result.plan.trials) == 18
    logged = calls.read_text().splitlines()
    made = [line.split()[1] for line in logged if line.startswith("synthetic")]
    # 4 generations (temperature x seed) + 4 filterings, each exactly once
    assert len(made) == len(set(made)) == 8
    assert sorted(p.name for p in (run_dir / "synthetic").glob("*.jsonl")) == sorted(f"{k}.jsonl" for k in made)
    rows = ResultsStore(run_dir / "trials.jsonl").rows()
    assert len(rows) == 18 and all(r["status"] == "ok" and "params" in r and "config" in r for r in rows)
    assert all(r["counts"]["synthetic"] == (3 if r["params"]["ratio"] > 0 else 0) for r in rows)
    assert (run_dir / "sweep.yaml").exists() and (run_dir / "split" / "manifest.json").exists()

    # Rerun: nothing to do; one more seed: only its trials and sets run.
    calls.write_text("")
    again = run_sweep(config, run_dir, trial_fn=fake_trial, synthetic_fn=fake_synthetic, show_progress=False)
    assert again.ran == [] and len(again.skipped) == 18 and calls.read_text() == ""
    bigger = sweep_config_from_dict(config_dict(fixtures, seeds=[0, 1, 2]))
    third = run_sweep(bigger, run_dir, trial_fn=fake_trial, synthetic_fn=fake_synthetic, show_progress=False)
    assert len(third.ran) == 9 and len(third.skipped) == 18
    assert all(
        line.split()[1] in {t.key for t in third.plan.trials} | {s.key for s in third.plan.synthetic}
        for line in calls.read_text().splitlines()
    )
    assert len([line for line in calls.read_text().splitlines() if line.startswith("synthetic")]) == 4


def test_failed_trials_are_recorded_and_retried(tmp_path, fixtures):
    config = sweep_config_from_dict(config_dict(fixtures, filter={"modes": ["off"]}, seeds=[0]))
    run_dir = tmp_path / "run"
    result = run_sweep(config, run_dir, trial_fn=failing_trial, synthetic_fn=fake_synthetic, show_progress=False)
    assert len(result.failed) == 2 and all("cannot be mixed" in e for e in result.failed.values())
    assert len(result.ran) == 3
    failures = (run_dir / "failures.jsonl").read_text().splitlines()
    assert len(failures) == 2
    retry = run_sweep(config, run_dir, trial_fn=fake_trial, synthetic_fn=fake_synthetic, show_progress=False)
    assert sorted(retry.ran) == sorted(result.failed) and retry.complete


def test_changed_data_in_the_same_run_dir_is_refused(tmp_path, fixtures):
    run_dir = tmp_path / "run"
    config = sweep_config_from_dict(config_dict(fixtures, seeds=[0], filter={"modes": ["off"]}))
    run_sweep(config, run_dir, trial_fn=fake_trial, synthetic_fn=fake_synthetic, show_progress=False)
    other = config_dict(fixtures, seeds=[0])
    other["data"]["split"] = {"seed": 7}
    with pytest.raises(SynthgradeError, match="different data or split settings"):
        run_sweep(sweep_config_from_dict(other), run_dir, trial_fn=fake_trial, synthetic_fn=fake_synthetic, show_progress=False)


def test_process_executor_runs_picklable_trials(tmp_path, fixtures):
    config = sweep_config_from_dict(config_dict(fixtures, seeds=[0], filter={"modes": ["off"]}))
    local = run_sweep(config, tmp_path / "a", LocalExecutor(), fake_trial, fake_synthetic, show_progress=False)
    pooled = run_sweep(config, tmp_path / "b", ProcessExecutor(2, "fork"), fake_trial, fake_synthetic, show_progress=False)
    assert sorted(local.ran) == sorted(pooled.ran)
    a = {r["key"]: r["teacher"] for r in ResultsStore(tmp_path / "a" / "trials.jsonl").rows()}
    b = {r["key"]: r["teacher"] for r in ResultsStore(tmp_path / "b" / "trials.jsonl").rows()}
    assert a == b


def test_killed_sweep_resumes_with_only_the_missing_trials(tmp_path, fixtures):
    run_dir = tmp_path / "run"
    calls = tmp_path / "calls.log"
    script = tmp_path / "run_sweep.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from helpers.sweep import config_dict, fake_synthetic, fake_trial
            from pathlib import Path
            from synthgrade.experiment import run_sweep, sweep_config_from_dict
            config = sweep_config_from_dict(config_dict(Path({str(fixtures)!r}), filter={{"modes": ["off"]}}))
            run_sweep(config, {str(run_dir)!r}, trial_fn=fake_trial, synthetic_fn=fake_synthetic, show_progress=False)
            """
        )
    )
    tests_dir = str(Path(__file__).parent)  # the script imports helpers.sweep
    pythonpath = os.pathsep.join([tests_dir, *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, CALLS_ENV: str(calls), "SYNTHGRADE_TEST_DELAY": "0.4", "PYTHONPATH": pythonpath}
    process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trials_file = run_dir / "trials.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if trials_file.exists() and len(trials_file.read_bytes().splitlines()) >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = set(ResultsStore(trials_file).load())
    assert 3 <= len(finished) < 10  # killed midway
    calls.write_text("")
    process = subprocess.run([sys.executable, str(script)], env={**env, "SYNTHGRADE_TEST_DELAY": "0"}, timeout=300)
    assert process.returncode == 0
    rerun = [line.split()[1] for line in calls.read_text().splitlines() if line.startswith("trial")]
    all_keys = set(ResultsStore(trials_file).load())
    assert len(all_keys) == 10
    assert set(rerun) == all_keys - finished and len(rerun) == len(set(rerun))
    assert not set(rerun) & finished


# --- presets and command line ----------------------------------------------------------------------


def test_presets_load_and_plan_the_papers_experiments(fixtures):
    from synthgrade.presets import list_presets, load_config_or_preset

    names = {p["name"] for p in list_presets()}
    assert names >= {"exp1-ratio", "exp2-temperature", "exp3-filter", "human-budget", "demo"}
    data = fixtures / "civics.csv"
    exp1 = load_config_or_preset("exp1-ratio", data)
    assert exp1.mix.ratios == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] and exp1.mix.mode == "fixed-total"
    assert len(plan_trials(exp1).trials) == 6 * 3
    exp2 = load_config_or_preset("exp2-temperature", data)
    assert exp2.generation.temperatures == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert len(plan_trials(exp2).trials) == (1 + 5) * 3
    exp3 = load_config_or_preset("exp3-filter", data)
    assert exp3.filter.modes == ["off", "on"]
    budget = load_config_or_preset("human-budget", data)
    assert budget.human_budgets == [16, 32, 64, 128, "all"]
    demo = load_config_or_preset("demo")
    assert demo.resolve_path(demo.data.path).exists()
    with pytest.raises(SynthgradeError, match="needs your data"):
        load_config_or_preset("exp1-ratio")
    with pytest.raises(SynthgradeError, match="no preset named"):
        load_config_or_preset("exp9")


def test_cli_dry_run_lists_trials_without_running(cli, fixtures, tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text(
        f"data:\n  path: {fixtures / 'civics.csv'}\nmix:\n  ratios: [0, 0.5]\ngeneration:\n  temperatures: [0.3, 0.9]\n"
    )
    result = cli("sweep", config, "--out", tmp_path / "run", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "3 trials (3 to run), 2 synthetic sets" in " ".join(result.stdout.split())
    assert "to run" in result.stdout and not (tmp_path / "run" / "trials.jsonl").exists()


def test_cli_errors_are_one_line(cli, fixtures, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"data:\n  path: {fixtures / 'civics.csv'}\nmix:\n  ratio: [0.5]\n")
    result = cli("sweep", bad, "--out", tmp_path / "run")
    assert result.returncode == 2
    assert "unknown key 'mix.ratio'" in result.stderr and "Traceback" not in result.stderr
    result = cli("sweep", "exp1-ratio", "--out", tmp_path / "run", "--dry-run")
    assert result.returncode == 2 and "needs your data" in result.stderr
    result = cli("report", tmp_path / "nothing-here")
    assert result.returncode == 2 and "no trials.jsonl" in result.stderr
    result = cli("presets", "exp2-temperature")
    assert result.returncode == 0 and "temperatures: [0.1, 0.3, 0.5, 0.7, 0.9]" in result.stdout


def test_shrink_keeps_the_share_when_a_synthetic_set_is_short():
    import pandas as pd

    from synthgrade.experiment.trial import _mix

    human = pd.DataFrame({"id": [f"h{i}" for i in range(20)], "text": [f"h {i}" for i in range(20)], "label": ["a", "b"] * 10})
    synthetic = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(10)],
            "text": [f"s {i}" for i in range(10)],
            "label": ["a"] * 6 + ["b"] * 4,
            "synthetic": True,
        }
    )
    with pytest.raises(SynthgradeError, match="synthetic set k: not enough synthetic rows"):
        _mix(human, synthetic, 0.8, "fixed-total", 20, 0, "error", "k")
    mixed = _mix(human, synthetic, 0.8, "fixed-total", 20, 0, "shrink", "k")
    manifest = mixed.manifest
    assert manifest["shrunk_from_total"] == 20 and manifest["rows"] < 20
    assert manifest["synthetic_rows"] == round(0.8 * manifest["rows"])
    assert (mixed.frame[mixed.frame["synthetic"]]["label"] == "b").sum() <= 4


def test_shrink_needs_fixed_total():
    with pytest.raises(SynthgradeError, match="shortfall: shrink needs mode: fixed-total"):
        sweep_config_from_dict({"data": {"path": "x.csv"}, "mix": {"ratios": [0.5], "shortfall": "shrink"}})


def test_shared_sets_across_seeds_fix_the_human_rows(fixtures):
    shared = config_dict(fixtures, filter={"modes": ["off"]}, seeds=[0, 1, 2], human_budgets=[5])
    shared["generation"] = {"temperatures": [0.3, 0.9], "share_across_seeds": True}
    plan = plan_trials(sweep_config_from_dict(shared))
    assert len(plan.synthetic) == 2  # one per temperature, not per seed
    assert {s.seed for s in plan.synthetic} == {0} and {s.budget_seed for s in plan.synthetic} == {0}
    assert {t.config["budget_seed"] for t in plan.trials} == {0}
    assert len(plan.trials) == 3 * (1 + 2 * 2)


def test_rerun_after_kill_9_removes_leftover_temporaries_and_keeps_secrets_out(tmp_path, fixtures):
    """Issue 13 items 9 and 11: a killed run's hidden temporaries are cleared, URL credentials never written."""
    generation = {"backend": "openai", "model": "m", "base_url": "https://user:sk-URL-SECRET@llm.example/v1"}
    config = sweep_config_from_dict(config_dict(fixtures, filter={"modes": ["off"]}, seeds=[0], generation=generation))
    run_dir = tmp_path / "run"
    dead_pid = subprocess.Popen([sys.executable, "-c", "pass"])  # a writer that no longer runs
    dead_pid.wait()
    leftovers = [run_dir / f".trials.jsonl.{dead_pid.pid}.k1ll3d.tmp", run_dir / "split" / f".train.csv.{dead_pid.pid}.abc.tmp"]
    for leftover in leftovers:
        leftover.parent.mkdir(parents=True, exist_ok=True)
        leftover.write_text("half written")
    run_sweep(config, run_dir, trial_fn=fake_trial, synthetic_fn=fake_synthetic, show_progress=False)
    assert not any(leftover.exists() for leftover in leftovers)
    assert not list(run_dir.rglob("*.tmp"))
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert b"sk-URL-SECRET" not in path.read_bytes(), path
    assert "https://***@llm.example/v1" in (run_dir / "sweep.yaml").read_text()


def test_feasible_total_is_the_largest_total_mixing_accepts():
    """The shrink computes its total; it must agree with the mixer, which refuses any larger one."""
    import pandas as pd

    from synthgrade.mix import feasible_total, mix_training_set

    human = pd.DataFrame(
        {"id": [f"h{i}" for i in range(21)], "text": [f"h {i}" for i in range(21)], "label": ["a", "b", "c"] * 7}
    )

    def mixes(synthetic: pd.DataFrame, ratio: float, total: int) -> bool:
        try:
            mixed = mix_training_set(human, synthetic, ratio, mode="fixed-total", total=total, seed=0)
        except SynthgradeError:
            return False
        return mixed.manifest["synthetic_rows"] > 0

    for counts in ((6, 4, 0), (6, 4, 1), (9, 9, 9), (1, 0, 0), (0, 0, 0), (30, 30, 30)):
        labels = [label for label, n in zip("abc", counts, strict=True) for _ in range(n)]
        ids = [f"s{i}" for i in range(len(labels))]
        synthetic = pd.DataFrame({"id": ids, "text": labels, "label": labels, "synthetic": True})
        for ratio in (0.25, 0.5, 0.8):
            expected = next((t for t in range(21, 0, -1) if mixes(synthetic, ratio, t)), None)
            assert feasible_total(human, synthetic, ratio, 21) == expected, (counts, ratio)
    # short of human rows rather than synthetic ones: no shrinking (the mixer's own error stands)
    assert feasible_total(human, synthetic, 0.1, 40) is None


def test_run_directory_paths_come_from_one_layout(tmp_path, fixtures):
    """A sweep writes where SweepLayout says, and the trial module finds its paths without the sweep module."""
    import ast

    import synthgrade.experiment.trial as trial_module
    from synthgrade.build.layout import BuildLayout
    from synthgrade.experiment import SweepLayout

    config = sweep_config_from_dict(config_dict(fixtures, filter={"modes": ["off"]}, seeds=[0]))
    result = run_sweep(config, tmp_path / "run", trial_fn=fake_trial, synthetic_fn=fake_synthetic, show_progress=False)
    layout = SweepLayout(tmp_path / "run")
    assert result.run_dir == layout.root and not result.failed
    for path in (layout.config, layout.plan, layout.trials, layout.split_manifest, layout.split("train"), layout.split("test")):
        assert path.is_file(), path
    made = {spec.key for spec in result.plan.synthetic}
    assert made and all(layout.synthetic(key).is_file() for key in made)
    assert all(layout.synthetic(key) == synthetic_path(layout.root, key) for key in made)
    assert len(ResultsStore(layout.trials).rows()) == len(result.plan.trials)

    tree = ast.parse(Path(trial_module.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "synthgrade.experiment.layout" in imported and "synthgrade.experiment.sweep" not in imported

    build = BuildLayout(tmp_path / "b")
    assert build.kept_synthetic("s1") == tmp_path / "b" / "work" / "synthetic" / "s1.kept.jsonl"
    assert build.grid_model("k") == tmp_path / "b" / "work" / "grid" / "k" and build.split("val").name == "val.csv"
    assert set(BuildLayout.OUTPUTS) >= {"work", "split", "model", "report", "build.json"}


def test_parameter_errors_name_the_python_parameter_and_the_cli_names_the_flag(cli, fixtures, tmp_path):
    """Library errors name what a Python caller passed; the CLI prints the flag its user typed."""
    from synthgrade.errors import ParameterError
    from synthgrade.executors.engines import ExecutorOptions, make_executor
    from synthgrade.presets import load_config_or_preset
    from synthgrade.report import write_report

    with pytest.raises(ParameterError, match="^address is for the ray executor only, not process$"):
        make_executor("process", ExecutorOptions(address="auto"))
    with pytest.raises(ParameterError, match="^data is missing: preset 'exp1-ratio' needs your data"):
        load_config_or_preset("exp1-ratio")
    run_dir = tmp_path / "run"
    config = sweep_config_from_dict(config_dict(fixtures, filter={"modes": ["off"]}, seeds=[0]))
    run_sweep(config, run_dir, trial_fn=fake_trial, synthetic_fn=fake_synthetic, show_progress=False)
    with pytest.raises(ParameterError, match="^metric must be one of accuracy"):
        write_report(run_dir, metric="f2")

    result = cli("sweep", "exp1-ratio", "--out", tmp_path / "x", "--executor", "ray", "--cpus-per-trial", "0")
    assert result.returncode == 2 and "--cpus-per-trial must be above 0, got 0.0" in result.stderr
    result = cli("sweep", "exp1-ratio", "--out", tmp_path / "x", "--address", "auto")
    assert result.returncode == 2 and "--address is for the ray executor only, not local" in result.stderr
    result = cli("report", run_dir, "--metric", "f2")
    assert result.returncode == 2 and "--metric must be one of" in result.stderr
    assert not (tmp_path / "x").exists()
