"""Dynamic micro-batching, /metrics and --workers: concurrent requests share model calls, nobody waits alone."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from helpers.serving import TOKEN, ServerThread
from helpers.tiny_scorer import build_tiny_scorer

from synthgrade.errors import ParameterError
from synthgrade.modeling import load_scorer
from synthgrade.serve import DynamicBatcher, create_app
from synthgrade.serve.server import default_parallel_calls, free_port, run_server


class CountingScorer:
    """Scores a row by its number (``"row 7"`` -> [0.7, 0.3]) and records the rows of every call."""

    def __init__(self, seconds: float = 0.02) -> None:
        self.seconds = seconds
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def predict_proba_inputs(self, first, second, batch_size=64):
        with self.lock:
            self.calls.append(len(first))
        time.sleep(self.seconds)
        values = np.array([int(text.split()[1]) / 100 for text in first])
        return np.stack([values, 1 - values], axis=1)


async def _score_all(batcher: DynamicBatcher, rows: list[list[str]], stagger: float = 0.0) -> list[np.ndarray]:
    await batcher.start()
    try:

        async def one(index: int, texts: list[str]) -> np.ndarray:
            await asyncio.sleep(index * stagger)
            return await batcher.score(texts, None)

        return await asyncio.gather(*(one(i, texts) for i, texts in enumerate(rows)))
    finally:
        await batcher.stop()


def test_concurrent_requests_share_model_calls_within_the_row_cap() -> None:
    scorer = CountingScorer()
    requests = [[f"row {i}"] for i in range(16)] + [[f"row {i}" for i in range(20, 23)]]
    batcher = DynamicBatcher(scorer, max_rows=6, max_wait_s=0.05, in_flight=lambda: 17)
    results = asyncio.run(_score_all(batcher, requests))
    for texts, proba in zip(requests, results, strict=True):
        assert proba.shape == (len(texts), 2)
        assert np.allclose(proba[:, 0], [int(t.split()[1]) / 100 for t in texts])  # each request gets its own rows
    assert sum(scorer.calls) == 19 and max(scorer.calls) <= 6
    assert len(scorer.calls) <= 5  # 19 rows in calls of at most 6, not 17 calls


def test_stragglers_within_the_wait_join_the_batch() -> None:
    scorer = CountingScorer(seconds=0.0)
    batcher = DynamicBatcher(scorer, max_rows=64, max_wait_s=0.2, in_flight=lambda: 4)
    asyncio.run(_score_all(batcher, [[f"row {i}"] for i in range(4)], stagger=0.01))
    assert scorer.calls == [4]


def test_a_lone_request_does_not_wait() -> None:
    scorer = CountingScorer(seconds=0.0)
    batcher = DynamicBatcher(scorer, max_rows=64, max_wait_s=1.0, in_flight=lambda: 1)
    started = time.perf_counter()
    asyncio.run(_score_all(batcher, [["row 1"]]))
    assert time.perf_counter() - started < 0.5 and scorer.calls == [1]


def test_a_failing_model_call_fails_its_requests_only() -> None:
    class Flaky(CountingScorer):
        def predict_proba_inputs(self, first, second, batch_size=64):
            if any("row 13" in t for t in first):
                raise RuntimeError("model exploded")
            return super().predict_proba_inputs(first, second, batch_size)

    async def run() -> tuple[object, np.ndarray]:
        batcher = DynamicBatcher(Flaky(0.0), max_rows=1)
        await batcher.start()
        try:
            bad = await asyncio.gather(batcher.score(["row 13"], None), return_exceptions=True)
            good = await batcher.score(["row 5"], None)
        finally:
            await batcher.stop()
        return bad[0], good

    bad, good = asyncio.run(run())
    assert isinstance(bad, RuntimeError) and np.allclose(good, [[0.05, 0.95]])


def test_parallel_calls_default_to_one_per_core_with_single_threaded_calls() -> None:
    assert default_parallel_calls(None) == 1
    assert default_parallel_calls(1) >= 1 and default_parallel_calls(10_000) == 1
    cores = default_parallel_calls(1)  # one call per core with single-threaded calls
    assert default_parallel_calls(1, workers=cores) == 1  # one process per core: each runs one call at a time
    assert default_parallel_calls(1, workers=2) == max(1, cores // 2)


@pytest.fixture(scope="module")
def pair_model(tiny_encoder: Path, tmp_path_factory) -> Path:
    return build_tiny_scorer(tiny_encoder, tmp_path_factory.mktemp("batching-model"))


def _metric(text: str, name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{{{re.escape(label_text)}}} (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name} {labels} not in /metrics"
    return float(match.group(1))


def test_metrics_endpoint_counts_requests_latency_and_batches(pair_model: Path) -> None:
    app = create_app(load_scorer(pair_model), token=TOKEN, max_wait_s=0.01)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with ServerThread(app) as url:

        def one(i: int) -> int:
            body = {"responses": [{"text": f"answer {i}", "item_id": "q1"}]}
            return httpx.post(f"{url}/score", json=body, headers=auth, timeout=60).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(one, range(24))) == {200}
        assert httpx.post(f"{url}/score", json={"responses": []}, headers=auth).status_code == 422
        assert httpx.get(f"{url}/metrics").status_code == 401
        reply = httpx.get(f"{url}/metrics", headers=auth)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    text = reply.text
    assert _metric(text, "synthgrade_requests_total", path="/score", status="200") == 24
    assert _metric(text, "synthgrade_requests_total", path="/score", status="422") == 1
    assert _metric(text, "synthgrade_request_seconds_count", path="/score") == 25
    assert _metric(text, "synthgrade_request_seconds_bucket", le="+Inf", path="/score") == 25
    assert _metric(text, "synthgrade_batch_rows_sum") == 24
    calls = _metric(text, "synthgrade_batch_rows_count")
    assert 1 <= calls <= 24 and _metric(text, "synthgrade_batch_requests_sum") == 24
    assert _metric(text, "synthgrade_score_requests_in_flight") == 0
    assert TOKEN not in text


def test_serve_workers_share_the_port_and_sum_their_metrics(pair_model: Path, cli) -> None:
    bad = cli("serve", pair_model, "--workers", "0")
    assert bad.returncode == 2 and "--workers must be at least 1, got 0" in bad.stderr and "Traceback" not in bad.stderr
    with pytest.raises(ParameterError, match="^workers must be at least 1, got 0$"):  # a Python caller reads its parameter
        run_server(pair_model, workers=0)
    port = free_port()
    command = [sys.executable, "-m", "synthgrade.cli", "serve", str(pair_model), "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        body = {"responses": [{"text": "The water evaporates.", "item_id": "q1"}]}
        for _ in range(12):
            with httpx.Client(base_url=url, timeout=60) as client:  # a new connection each time: any worker may answer
                assert client.post("/score", json=body).status_code == 200
        text = httpx.get(f"{url}/metrics", timeout=30).text
        assert _metric(text, "synthgrade_requests_total", path="/score", status="200") == 12
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "with 2 worker processes" in output
