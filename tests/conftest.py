"""Shared test fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "semeval2013-scientsbank"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def scientsbank() -> Path:
    if not SHARED_DATA.exists():
        # CI always has ../shared beside the checkout: there a missing data set is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"shared data set not found at {SHARED_DATA}")
        pytest.skip(f"shared data set not found at {SHARED_DATA}")
    return SHARED_DATA


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess, so exit codes and stderr are what users see."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "synthgrade.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=900,
    )


@pytest.fixture
def cli():
    return run_cli
