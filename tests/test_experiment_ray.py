"""Sweeps on a real local Ray instance: same results as the local executor, retries, and driver-kill resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import ray  # noqa: F401  (`make setup` installs it (the dev extra): a missing Ray fails these tests instead of skipping them)
from helpers.sweep import config_dict, fake_synthetic, fake_trial

from synthgrade.executors.engines import ExecutorOptions, make_executor
from synthgrade.executors.ray import RayExecutor
from synthgrade.experiment import LocalExecutor, ResultsStore, TrialSpec, run_sweep, sweep_config_from_dict


def _rows(run_dir: Path) -> dict[str, dict]:
    return {
        r["key"]: {k: r[k] for k in ("teacher", "counts", "params", "synthetic_key")}
        for r in ResultsStore(run_dir / "trials.jsonl").rows()
    }


def test_ray_sweep_matches_the_local_executor(ray_cluster, tmp_path, fixtures):
    config = sweep_config_from_dict(config_dict(fixtures))
    local = run_sweep(config, tmp_path / "local", LocalExecutor(), fake_trial, fake_synthetic, show_progress=False)
    on_ray = run_sweep(config, tmp_path / "ray", RayExecutor(), fake_trial, fake_synthetic, show_progress=False)
    assert on_ray.complete and sorted(on_ray.ran) == sorted(local.ran) and len(on_ray.ran) == 18
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")
    # The sets were written by workers in their own directories and shipped back: the driver wrote them here.
    made = sorted(p.name for p in (tmp_path / "ray" / "synthetic").glob("*.jsonl"))
    assert made == sorted(p.name for p in (tmp_path / "local" / "synthetic").glob("*.jsonl")) and len(made) == 8
    assert not list((tmp_path / "ray").rglob("synthgrade-ray-*"))


def crash_once(spec: TrialSpec) -> dict:
    """Kills its worker process the first time (a lost node), then behaves."""
    marker = Path(os.environ["SYNTHGRADE_TEST_MARKERS"]) / spec.key
    if not marker.exists():
        marker.write_text("crashed")
        os._exit(1)
    return fake_trial(spec)


def always_crash(spec: TrialSpec) -> dict:
    os._exit(1)


def test_ray_lost_worker_is_retried_then_recorded(ray_cluster, tmp_path, fixtures, monkeypatch):
    markers = tmp_path / "markers"
    markers.mkdir()
    config = sweep_config_from_dict(config_dict(fixtures, seeds=[0], filter={"modes": ["off"]}, mix={"ratios": [0.0]}))
    env = {"env_vars": {"SYNTHGRADE_TEST_MARKERS": str(markers)}}
    retried = run_sweep(
        config, tmp_path / "a", RayExecutor(max_retries=2, runtime_env=env), crash_once, fake_synthetic, show_progress=False
    )
    assert retried.complete and len(retried.ran) == 1 and len(list(markers.iterdir())) == 1
    lost = run_sweep(config, tmp_path / "b", RayExecutor(max_retries=1), always_crash, fake_synthetic, show_progress=False)
    [error] = lost.failed.values()
    assert error.startswith("Ray task lost:") and "\n" not in error
    assert "Ray task lost" in (tmp_path / "b" / "failures.jsonl").read_text()


def test_killed_ray_driver_resumes_without_redoing_trials(ray_cluster, tmp_path, fixtures):
    run_dir = tmp_path / "run"
    script = tmp_path / "driver.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from pathlib import Path
            from helpers.sweep import config_dict, fake_synthetic, fake_trial  # tests/ is on PYTHONPATH (ray_cluster)
            from synthgrade.experiment import run_sweep, sweep_config_from_dict
            from synthgrade.executors.ray import RayExecutor
            config = sweep_config_from_dict(config_dict(Path({str(fixtures)!r}), filter={{"modes": ["off"]}}))
            executor = RayExecutor({ray_cluster!r}, runtime_env={{"env_vars": {{"SYNTHGRADE_TEST_DELAY": sys.argv[1]}}}})
            run_sweep(config, {str(run_dir)!r}, executor, fake_trial, fake_synthetic, show_progress=False)
            """
        )
    )
    process = subprocess.Popen([sys.executable, str(script), "1.0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trials_file = run_dir / "trials.jsonl"
    deadline = time.time() + 180
    while time.time() < deadline and process.poll() is None:
        if trials_file.exists() and len(trials_file.read_bytes().splitlines()) >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = ResultsStore(trials_file).load()
    assert 3 <= len(first) < 10  # killed midway
    finished_at = {key: row["finished_at"] for key, row in first.items()}
    rerun = subprocess.run([sys.executable, str(script), "0"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    lines = [line for line in trials_file.read_text().splitlines() if line.strip()]
    final = ResultsStore(trials_file).load()
    assert len(final) == 10 and len(lines) == 10  # every trial once: none of the finished ones ran again
    assert all(final[key]["finished_at"] == stamp for key, stamp in finished_at.items())


def test_executor_registry_names_ray(ray_cluster):
    assert isinstance(make_executor("ray", ExecutorOptions(cpus_per_task=2)), RayExecutor)
    from synthgrade.errors import ParameterError, SynthgradeError

    with pytest.raises(SynthgradeError, match="unknown executor 'spark'; choose one of local, process, ray"):
        make_executor("spark")
    with pytest.raises(ParameterError, match="^address is for the ray executor only, not local$"):
        make_executor("local", ExecutorOptions(address="auto"))
    with pytest.raises(ParameterError, match="^cpus_per_task must be above 0, got 0"):
        make_executor("ray", ExecutorOptions(cpus_per_task=0))


def test_real_trials_on_ray_match_local(ray_cluster, tmp_path, fixtures, tiny_encoder):
    """The real trial (tiny random encoder teacher, static student) gives the same numbers on Ray as here."""
    settings = config_dict(fixtures, seeds=[0, 1], filter={"modes": ["off"]}, mix={"ratios": [0.0]})
    settings.update(
        {
            "teacher": {"model": str(tiny_encoder), "epochs": 1, "max_length": 32},
            "students": [{"model": "static", "epochs": 1}],
            "evaluation": {"bootstrap": 20, "speed": False},
        }
    )
    config = sweep_config_from_dict(settings)
    run_sweep(config, tmp_path / "local", LocalExecutor(), show_progress=False)
    on_ray = run_sweep(config, tmp_path / "ray", RayExecutor(), show_progress=False)
    assert on_ray.complete and len(on_ray.ran) == 2

    def numbers(run_dir: Path) -> dict:
        return {
            r["key"]: (r["teacher"]["predictions"], r["teacher"]["metrics"], [s["predictions"] for s in r["students"]])
            for r in ResultsStore(run_dir / "trials.jsonl").rows()
        }

    assert numbers(tmp_path / "ray") == numbers(tmp_path / "local")
