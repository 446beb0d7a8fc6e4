"""Load test: `synthgrade serve` under 64 concurrent clients for 60 s; errors, throughput, latency, memory.

The server runs as a `synthgrade serve` subprocess (as users run it) with a bearer token; each client is a
thread with its own keep-alive connection sending one response per POST /score, back to back, for the whole
duration. The server's resident memory is sampled twice a second: "bounded" means it stops growing once
warm (the figure to watch is the peak RSS per 10-second window, which should level off).

Model: by default an untrained MiniLM-L6 classifier truncated to 3 layers (the `--student layers:3` shape,
built by ``benchmarks.common.build_models``); pass --model for a trained one. Speed does not depend on the head's training.

    .venv/bin/python benchmarks/serving/bench_load.py            # writes benchmarks/results/load.json
    .venv/bin/python benchmarks/serving/bench_load.py --clients 8 --seconds 10 --out /tmp/load.json   # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import RESULTS, build_models, load_requests, percentile, wait_until_up  # noqa: E402
from synthgrade.io import write_json  # noqa: E402
from synthgrade.serve.server import free_port  # noqa: E402


def start_server(model: Path, token: str, threads: int) -> tuple[psutil.Popen, str]:
    port = free_port()
    process = psutil.Popen(
        [sys.executable, "-m", "synthgrade.cli", "serve", str(model), "--port", str(port), "--log-level", "warning"]
        + (["--threads", str(threads)] if threads else []),
        stdout=sys.stderr,
        stderr=sys.stderr,
        env={**os.environ, "SYNTHGRADE_TOKEN": token},
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(process, f"{url}/health", 180, "synthgrade serve")
    return process, url


def hold(url: str, token: str, requests: list[dict], clients: int, seconds: float, server: psutil.Process) -> dict:
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    memory: list[tuple[float, float]] = []  # (seconds since start, server RSS in MB)

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as session:
            k = 0
            while time.monotonic() < stop:
                body = {"responses": [requests[(index * 7919 + k) % len(requests)]]}
                k += 1
                started = time.perf_counter()
                try:
                    reply = session.post("/score", json=body)
                    answered = reply.status_code == 200 and len(reply.json()["results"]) == 1
                    outcome = "ok" if answered else f"http_{reply.status_code}"
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    if outcome == "ok":
                        latencies.append(elapsed)
                    else:
                        failures[outcome] += 1

    def sample() -> None:
        begun = time.monotonic()
        while time.monotonic() < stop:
            memory.append((round(time.monotonic() - begun, 1), server.memory_info().rss / 2**20))
            time.sleep(0.5)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)] + [threading.Thread(target=sample)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    half = [rss for t, rss in memory if t >= seconds / 2]
    windows: dict[int, float] = {}  # peak RSS per 10-second window: flat once warm means bounded
    for t, rss in memory:
        windows[int(t // 10) * 10] = max(windows.get(int(t // 10) * 10, 0.0), rss)
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests_ok": len(latencies),
        "errors": sum(failures.values()),
        "error_kinds": dict(failures),
        "responses_per_s": round(len(latencies) / wall, 1),
        "latency_ms_p50": round(percentile(latencies, 0.50) * 1000, 1),
        "latency_ms_p95": round(percentile(latencies, 0.95) * 1000, 1),
        "latency_ms_p99": round(percentile(latencies, 0.99) * 1000, 1),
        "latency_ms_max": round(max(latencies) * 1000, 1),
        "latency_ms_mean": round(statistics.fmean(latencies) * 1000, 1),
        "server_rss_mb": {
            "first": round(memory[0][1], 1),
            "peak": round(max(rss for _, rss in memory), 1),
            "last": round(memory[-1][1], 1),
            "second_half_range": round(max(half) - min(half), 1) if half else None,
            "peak_per_10s_window": {f"{start}s": round(rss, 1) for start, rss in sorted(windows.items())},
            "samples": len(memory),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory to serve (default: untrained MiniLM-L6 layers:3 student)")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=1, help="server threads per model call (0: all cores)")
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    args = parser.parse_args()

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    load_before = os.getloadavg()
    requests, bank_frame = load_requests()
    token = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        if args.model:
            model, described = args.model, f"trained: {args.model}"
        else:
            _, model, _ = build_models(Path(tmp), bank_frame)
            described = "untrained minilm-l6 classifier truncated to 3 layers (the layers:3 student shape), PyTorch"
        process, url = start_server(model, token, args.threads)
        try:
            warm = hold(url, token, requests, 4, 3.0, process)  # load lazily initialised kernels first
            result = hold(url, token, requests, args.clients, args.seconds, process)
            health = httpx.get(f"{url}/health", timeout=10).status_code
        finally:
            process.terminate()
            process.wait(timeout=30)
    import torch

    write_json(
        args.out,
        {
            "benchmark": "load",
            "command": "python benchmarks/serving/bench_load.py " + " ".join(sys.argv[1:]),
            "model": described,
            "request": "one response per POST /score with a bearer token, HTTP/1.1 keep-alive on 127.0.0.1",
            "server_threads": args.threads or "all cores",
            "warm_up": {"clients": warm["clients"], "seconds": warm["seconds"], "errors": warm["errors"]},
            "result": result,
            "health_after": health,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "torch": torch.__version__,
                # the clients share the machine with the server (and other work): record how busy it was
                "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            },
        },
    )
    rss = result["server_rss_mb"]
    print(
        f"{result['clients']} clients for {result['seconds']} s: {result['requests_ok']} ok, {result['errors']} errors, "
        f"{result['responses_per_s']} resp/s, p50 {result['latency_ms_p50']} ms, p95 {result['latency_ms_p95']} ms, "
        f"p99 {result['latency_ms_p99']} ms; server RSS {rss['first']} -> peak {rss['peak']} MB "
        f"(peak per 10 s: {list(rss['peak_per_10s_window'].values())}); wrote {args.out}"
    )


if __name__ == "__main__":
    main()
