"""A local two-CPU Ray instance for the executor tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src"


@pytest.fixture(scope="module")
def ray_cluster():
    """A local two-CPU Ray instance whose workers can import synthgrade and these test modules."""
    import ray  # only the Ray tests need it

    saved = os.environ.get("PYTHONPATH")
    # Workers inherit the raylet's environment, set here before it starts.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SRC), str(TESTS), *([saved] if saved else [])])
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
