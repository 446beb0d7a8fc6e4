"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.tiny_encoder import make_tiny_encoder

#: Fixtures shared by several test modules (data_file/server for build, ray_cluster for the executors).
pytest_plugins = ["helpers.build", "helpers.ray_cluster"]

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


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """Path of a tiny random BERT encoder folder (usable wherever a model name or path is accepted)."""
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))
