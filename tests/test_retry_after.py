"""Item 7 of issue 13: a 429 whose Retry-After is not a number backs off instead of ending the run."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from helpers.llm_server import FakeChatServer

from synthgrade.data import load_responses
from synthgrade.generate import GenerationConfig, generate_synthetic
from synthgrade.generate.backends import parse_retry_after


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "later", "retry-after": "9"}, 9.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "Wed, 99 Foo 2026 25:61:00 GMT"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": ""}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict, expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_dates() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= parse_retry_after({"retry-after": format_datetime(soon, usegmt=True)}) <= 30
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past: go now
    naive = soon.strftime("%a, %d %b %Y %H:%M:%S -0000")  # "-0000" parses to a naive datetime: still GMT
    assert 25 <= parse_retry_after({"retry-after": naive}) <= 30


@pytest.mark.parametrize("retry_after", ["soon", "Thu, 01 Jan 1970 00:00:00 GMT"])
def test_429_with_odd_retry_after_backs_off_and_the_run_finishes(fixtures: Path, tmp_path: Path, retry_after: str) -> None:
    train = load_responses(fixtures / "civics.csv")
    config = GenerationConfig(
        backend="openai", model="fake-model", per_label=2, per_call=2, embedder=None,
        retry={"base_delay": 0.01, "max_delay": 1.0, "timeout": 5.0}, concurrency=1,
    )  # fmt: skip
    with FakeChatServer(script=["429", "429"], retry_after=retry_after) as server:
        started = time.monotonic()
        result = generate_synthetic(
            train, config.model_copy(update={"base_url": server.base_url}), cache_dir=tmp_path, show_progress=False
        )
    assert result.summary["calls"]["retry_reasons"] == {"http_429": 2}
    assert result.summary["kept"] == 4 and time.monotonic() - started < 30
