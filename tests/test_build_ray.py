"""``build``'s grid on a real local Ray instance: the same cells and validation scores as the local executor."""

from __future__ import annotations

import json
from pathlib import Path

import ray  # noqa: F401  (`make setup` installs it: a missing Ray fails these tests instead of skipping them)
from helpers.build import config

from synthgrade.build import run_build
from synthgrade.executors.ray import RayExecutor


def _cells(out: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (out / "work" / "grid.jsonl").read_text().splitlines()]
    return {r["key"]: {k: v for k, v in r.items() if k != "seconds"} for r in rows}


def test_build_grid_on_ray_matches_local(ray_cluster, data_file, server, tmp_path):  # noqa: F811
    local = run_build(data_file, tmp_path / "local", config(server))
    on_ray = run_build(data_file, tmp_path / "ray", config(server), executor=RayExecutor())
    assert _cells(tmp_path / "ray") == _cells(tmp_path / "local") and len(_cells(tmp_path / "ray")) == 4
    assert on_ray.verdict == local.verdict and on_ray.shipped == local.shipped
    # Workers trained in private folders; the driver wrote every model back into the build folder.
    for key in _cells(tmp_path / "ray"):
        assert (tmp_path / "ray" / "work" / "grid" / key / "synthgrade.json").exists()
    assert not list((tmp_path / "ray").rglob("synthgrade-ray-*"))
