"""Latency of the coding page's actions while the model in the loop retrains, with 5,000 pool responses.

`synthgrade code` runs as a subprocess (as users run it) on 5,000 SciEntsBank responses (3-way, the
unseen-domains and unseen-answers test folders; their labels are hidden from the pool and used by a
simulated coder). The coder labels one response after another with a short pause, skips and undoes now
and then, and the page polls its panel, as the real page does. The model retrains every few labels in
the background (the select stage's default strategy with the MiniLM-L6 encoder, so the first round also
embeds the whole pool); a watcher thread records when a retraining is running. Reported: p50/p95/p99
latency per action, over all actions and over those answered while a retraining ran (target: p95 < 200 ms).

    .venv/bin/python benchmarks/serving/bench_coding.py            # writes benchmarks/results/coding.{json,md}
    .venv/bin/python benchmarks/serving/bench_coding.py --seconds 30 --out /tmp/coding.json   # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import RESULTS, SCIENTSBANK  # noqa: E402
from synthgrade.data import load_responses  # noqa: E402
from synthgrade.io import write_json, write_text_atomic  # noqa: E402
from synthgrade.serve.server import free_port  # noqa: E402

LABELS = ["correct", "incorrect", "contradictory"]
HEADERS = {"X-Synthgrade": "1"}


def make_pool(folder: Path, rows: int) -> tuple[Path, dict[str, str]]:
    frames = [load_responses(SCIENTSBANK / "3way" / "test" / name) for name in ("test-unseen-domains", "test-unseen-answers")]
    import pandas as pd

    frame = pd.concat(frames, ignore_index=True).head(rows)
    truth = dict(zip(frame["id"].astype(str), frame["label"], strict=True))
    pool = folder / "pool.csv"
    frame[["id", "text", "item_id", "item_text", "reference"]].to_csv(pool, index=False)
    return pool, truth


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ms = np.asarray(values) * 1000
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


class Watcher(threading.Thread):
    """Polls the panel once a second (as the page does) and notes the intervals a retraining was running."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.busy_since: float | None = None
        self.intervals: list[tuple[float, float]] = []
        self.last_model: dict = {}
        self.panel_seconds: list[float] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self.stop.is_set():
                started = time.perf_counter()
                model = client.get("/api/panel").json()["model"]
                self.panel_seconds.append(time.perf_counter() - started)
                self.last_model = model
                now = time.perf_counter()
                running = model["state"].startswith("retraining")
                if running and self.busy_since is None:
                    self.busy_since = now
                elif not running and self.busy_since is not None:
                    self.intervals.append((self.busy_since, now))
                    self.busy_since = None
                self.stop.wait(1.0)
        if self.busy_since is not None:
            self.intervals.append((self.busy_since, time.perf_counter()))

    def retraining_at(self, start: float, end: float) -> bool:
        spans = self.intervals + ([(self.busy_since, float("inf"))] if self.busy_since is not None else [])
        return any(a <= end and start <= b for a, b in spans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--pause", type=float, default=0.15, help="seconds the simulated coder waits between actions")
    parser.add_argument("--retrain-every", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "coding.json")
    args = parser.parse_args()

    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="bench-coding-") as tmp:
        folder = Path(tmp)
        pool, truth = make_pool(folder, args.rows)
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "synthgrade.cli",
            "code",
            str(pool),
            "--out",
            str(folder / "project"),
            "--labels",
            ",".join(LABELS),
            "--port",
            str(port),
            "--min-labels",
            "10",
            "--retrain-every",
            str(args.retrain_every),
            "--coder",
            "bench",
        ]
        load_before = os.getloadavg()
        server = subprocess.Popen(command, stdout=sys.stderr, stderr=sys.stderr, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            started = time.monotonic()
            while True:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
                if time.monotonic() - started > 300 or server.poll() is not None:
                    raise SystemExit("the coding server did not start")
            startup = time.monotonic() - started
            watcher = Watcher(url)
            watcher.start()
            samples: list[tuple[str, float, float, float]] = []  # action, start, end, seconds
            client = httpx.Client(base_url=url, headers=HEADERS, timeout=60)

            def timed(action: str, call):  # noqa: ANN001, ANN202
                start = time.perf_counter()
                answer = call()
                end = time.perf_counter()
                answer.raise_for_status()
                samples.append((action, start, end, end - start))
                return answer

            timed("page", lambda: client.get("/?coder=bench"))
            current = timed("next", lambda: client.get("/api/next", params={"coder": "bench"})).json()["response"]
            deadline = time.perf_counter() + args.seconds
            labelled = 0
            while time.perf_counter() < deadline and current is not None:
                roll = rng.random()
                if roll < 0.05:
                    answer = timed("undo", lambda: client.post("/api/undo", json={"coder": "bench"}))
                elif roll < 0.10:
                    answer = timed("skip", lambda c=current: client.post("/api/skip", json={"id": c["id"], "coder": "bench"}))
                else:
                    payload = {"id": current["id"], "coder": "bench", "label": truth[current["id"]], "base": current["label"]}
                    answer = timed("label", lambda p=payload: client.post("/api/label", json=p))
                    labelled += 1
                current = answer.json()["response"]
                if rng.random() < 0.25:
                    timed("panel", lambda: client.get("/api/panel"))
                time.sleep(args.pause)
            watcher.stop.set()
            watcher.join(timeout=120)
            model = watcher.last_model
        finally:
            server.kill()
            server.wait(timeout=30)

    actions = sorted({s[0] for s in samples})
    during = [s for s in samples if watcher.retraining_at(s[1], s[2])]
    result = {
        "what": "latency of coding-page actions (HTTP, keep-alive) while the model retrains in the background",
        "pool_rows": args.rows,
        "seconds": args.seconds,
        "pause_s": args.pause,
        "retrain_every": args.retrain_every,
        "startup_s": round(startup, 1),
        "labels_given": labelled,
        "retrainings_seen": len(watcher.intervals),
        "retraining_share_of_time": round(sum(b - a for a, b in watcher.intervals) / max(1e-9, args.seconds), 2),
        "last_model_state": model,
        "all_actions": percentiles([s[3] for s in samples if s[0] != "page"]),
        "while_retraining": percentiles([s[3] for s in during if s[0] != "page"]),
        "per_action": {a: percentiles([s[3] for s in samples if s[0] == a]) for a in actions},
        "per_action_while_retraining": {a: percentiles([s[3] for s in during if s[0] == a]) for a in actions},
        "target_p95_ms": 200,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "command": " ".join(["benchmarks/serving/bench_coding.py", *sys.argv[1:]]),
    }
    write_json(args.out, result)
    write_text_atomic(args.out.with_suffix(".md"), markdown(result))
    print(markdown(result))


def markdown(result: dict) -> str:
    lines = [
        "# Coding page: action latency while the model retrains",
        "",
        f"`synthgrade code` on {result['pool_rows']:,} pool responses (SciEntsBank 3-way), a simulated coder for "
        f"{result['seconds']:.0f} s ({result['labels_given']} labels, a {result['pause_s']} s pause between actions), "
        f"retraining every {result['retrain_every']} labels: {result['retrainings_seen']} retrainings seen, running "
        f"{100 * result['retraining_share_of_time']:.0f}% of the time. Machine: {result['machine']['cpus']} CPUs shared "
        f"with other work (load average {result['machine']['load_average_before'][0]} before the run).",
        "",
        "| actions | n | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    rows = [("all", result["all_actions"]), ("all, while retraining", result["while_retraining"])]
    rows += [(f"{a}", v) for a, v in result["per_action"].items()]
    rows += [(f"{a}, while retraining", v) for a, v in result["per_action_while_retraining"].items()]
    for name, v in rows:
        lines.append(f"| {name} | {v['n']} | {v['p50_ms']} | {v['p95_ms']} | {v['p99_ms']} | {v['max_ms']} |")
    verdict = result["while_retraining"]["p95_ms"]
    lines += ["", f"Target: p95 < {result['target_p95_ms']} ms while retraining; measured {verdict} ms.", ""]
    lines.append(f"Command: `{result['command']}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
