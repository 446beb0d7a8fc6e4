"""Serving benchmark: responses/s and p50/p95 latency of `synthgrade serve` on loopback.

Grid: teacher vs student x PyTorch vs ONNX fp32 vs ONNX int8, each at 1, 4, 16 and 64 concurrent
clients, one response per request (the tutoring-system case). Each server runs as a `synthgrade serve`
subprocess (as users run it, default batching settings); the clients are threads in this process, each
with one keep-alive connection (plain http.client: a lighter client leaves more of the shared CPU to
the server). Clients and server share the machine, and so does anything else running on it: the load
average before and after is recorded next to the figures.

Models: pass trained ones with --teacher/--student, or (default) the script builds an untrained
MiniLM-L6 classifier (teacher, 6 layers) and a 3-layer truncated copy of it (student, like
`--student layers:3`). Untrained heads do not change speed, only the labels they predict.
Inputs are SciEntsBank (question, answer) pairs from ../shared when present, else built-in text.

    .venv/bin/python benchmarks/serving/bench_serve.py            # writes benchmarks/results/serve.json
    .venv/bin/python benchmarks/serving/bench_serve.py --per-client 10 --runtimes onnx-int8   # quicker
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: run as a file, see README
from benchmarks.common import RESULTS, ROOT, SCIENTSBANK, build_models, load_requests, percentile, wait_until_up  # noqa: E402
from synthgrade.io import write_json  # noqa: E402
from synthgrade.serve.server import free_port  # noqa: E402


def start_server(
    model: Path, threads: int | None, extra: list[str] | None = None, source: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """`synthgrade serve` in a subprocess; ``source``: run the server code of that ``src`` directory instead."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SYNTHGRADE_TOKEN"}
    env["PYTHONPATH"] = str(source or ROOT / "src")
    process = subprocess.Popen(
        [sys.executable, "-m", "synthgrade.cli", "serve", str(model), "--port", str(port), "--log-level", "warning"]
        + (["--threads", str(threads)] if threads else [])
        + (extra or []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(process, f"{url}/health", 180, "synthgrade serve")
    return process, url


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` and its live descendants (Linux /proc): with
    ``serve --workers N`` the worker processes are children of the supervisor."""
    if pid is None:
        return None
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    if pid not in times:
        return None
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent and child not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times[p] for p in tree)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


# wrk (https://github.com/wg/wrk, Debian package `wrk`): one epoll thread in C drives every connection,
# so the load generator takes about a tenth of the CPU per request that Python clients do, and the
# shared cores go to the server. The script rotates through the request bodies and prints one JSON line.
WRK_SCRIPT = """
local bodies = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/score", {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, '
    .. '"p50_us": %d, "p95_us": %d, "mean_us": %.1f}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(95), latency.mean))
end
"""


def run_load_wrk(url: str, requests: list[dict], clients: int, seconds: float, server_pid: int | None = None) -> dict:
    """``clients`` keep-alive connections driven by wrk for ``seconds``; throughput and latencies."""
    import resource

    with tempfile.TemporaryDirectory(prefix="bench-serve-wrk-") as tmp:
        script, bodies = Path(tmp) / "score.lua", Path(tmp) / "bodies.jsonl"
        script.write_text(WRK_SCRIPT)
        bodies.write_text("".join(json.dumps({"responses": [r]}) + "\n" for r in requests))
        load_average = os.getloadavg()[0]
        server_cpu = process_cpu_seconds(server_pid)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "60s", "-s", str(script), url, "--", str(bodies)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_after = process_cpu_seconds(server_pid)
    line = next((x for x in output.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {output[-500:]}")
    result = json.loads(line[4:])
    wall = result["duration_us"] / 1e6
    done = max(1, result["requests"] - result["non_2xx"])
    client_cpu = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    return {
        "clients": clients,
        "requests": result["requests"],
        "errors": result["errors"] + result["non_2xx"],
        "responses_per_s": round(done / wall, 1),
        "latency_ms_p50": round(result["p50_us"] / 1000, 1),
        "latency_ms_p95": round(result["p95_us"] / 1000, 1),
        "latency_ms_mean": round(result["mean_us"] / 1000, 1),
        "server_cores_used": round((server_after - server_cpu) / wall, 2) if server_cpu is not None and server_after else None,
        "server_cpu_ms_per_request": round((server_after - server_cpu) / done * 1000, 2)
        if server_cpu is not None and server_after
        else None,
        "client_cpu_ms_per_request": round(client_cpu / done * 1000, 3),
        "load_average_1m_at_start": round(load_average, 2),
    }


def run_load(url: str, requests: list[dict], clients: int, total: int, server_pid: int | None = None) -> dict:
    """``total`` single-response requests spread over ``clients`` threads; wall-clock throughput and latencies."""
    import resource

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_client = max(1, total // clients)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    headers = {"Content-Type": "application/json"}

    def worker(index: int) -> None:
        nonlocal errors
        connection = http.client.HTTPConnection(host, int(port), timeout=300)
        try:
            for k in range(per_client):
                body = json.dumps({"responses": [requests[(index * per_client + k) % len(requests)]]})
                started = time.perf_counter()
                connection.request("POST", "/score", body, headers)
                reply = connection.getresponse()
                reply.read()
                elapsed = time.perf_counter() - started
                with lock:
                    if reply.status == 200:
                        latencies.append(elapsed)
                    else:
                        errors += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    load_average = os.getloadavg()[0]
    server_cpu = process_cpu_seconds(server_pid)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    server_after = process_cpu_seconds(server_pid)
    done = max(1, len(latencies))
    return {
        "clients": clients,
        "requests": per_client * clients,
        "errors": errors,
        "responses_per_s": round(len(latencies) / wall, 1),
        "latency_ms_p50": round(percentile(latencies, 0.50) * 1000, 1),
        "latency_ms_p95": round(percentile(latencies, 0.95) * 1000, 1),
        "latency_ms_mean": round(statistics.fmean(latencies) * 1000, 1),
        # How much CPU the server got (in cores) and spent per request; other work on the machine competes for the rest.
        "server_cores_used": round((server_after - server_cpu) / wall, 2) if server_cpu is not None and server_after else None,
        "server_cpu_ms_per_request": round((server_after - server_cpu) / done * 1000, 2)
        if server_cpu is not None and server_after
        else None,
        "client_cpu_ms_per_request": round(client_cpu / done * 1000, 2),
        "load_average_1m_at_start": round(load_average, 2),
    }


def direct_latency(directory: Path, requests: list[dict], count: int, threads: int | None) -> dict:
    """The same single-response calls without HTTP, in this process: what the server adds on top."""
    import pandas as pd

    from synthgrade.export import set_inference_threads
    from synthgrade.modeling import build_inputs, load_scorer

    set_inference_threads(threads or None)
    scorer = load_scorer(directory)
    latencies = []
    for k in range(count + 5):
        frame = pd.DataFrame([requests[k % len(requests)]])
        started = time.perf_counter()
        first, second, _ = build_inputs(frame, scorer.info)
        scorer.predict_proba_inputs(first, second)
        if k >= 5:  # warm-up calls
            latencies.append(time.perf_counter() - started)
    return {
        "calls": count,
        "latency_ms_p50": round(percentile(latencies, 0.50) * 1000, 1),
        "latency_ms_p95": round(percentile(latencies, 0.95) * 1000, 1),
    }


def measure_server(
    directory: Path, args: argparse.Namespace, requests: list[dict], use_wrk: bool, source: Path | None
) -> list[dict]:
    """Start one server for ``directory`` (code from ``source``, default this checkout) and load it at each client count."""
    process, url = start_server(directory, args.threads, args.serve_args.split(), source)
    loads = []
    try:
        run_load(url, requests, 1, args.warmup)
        if use_wrk:
            run_load_wrk(url, requests, 4, 1)  # warm every worker process
        for clients in args.clients:
            if use_wrk:
                loads.append(run_load_wrk(url, requests, clients, args.seconds, process.pid))
            else:
                total = max(args.min_requests, clients * args.per_client)
                loads.append(run_load(url, requests, clients, total, process.pid))
    finally:
        process.terminate()
        process.wait(timeout=30)
    return loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, help="trained teacher model directory (default: build an untrained MiniLM-L6)")
    parser.add_argument("--student", type=Path, help="trained student model directory (default: layers:3 copy of the teacher)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 64], help="concurrent client counts")
    parser.add_argument("--per-client", type=int, default=20, help="requests per client (at least --min-requests in all)")
    parser.add_argument("--min-requests", type=int, default=100, help="fewest requests per client count")
    parser.add_argument(
        "--runtimes", nargs="+", default=["pytorch", "onnx", "onnx-int8"], choices=["pytorch", "onnx", "onnx-int8"]
    )
    parser.add_argument("--serve-args", default="", help="extra `synthgrade serve` options, e.g. '--workers 2'")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up requests (python clients) before measuring")
    parser.add_argument(
        "--load-generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="wrk (C, one epoll thread; auto when installed: apt-get install wrk) or Python threads (http.client)",
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="wrk: seconds of load per client count")
    parser.add_argument(
        "--threads", type=int, default=1, help="server threads per model call (0: all cores); the clients share the machine"
    )
    parser.add_argument("--roles", nargs="+", default=["teacher", "student"], choices=["teacher", "student"])
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also serve every variant with the server code of this src/ directory (e.g. an export of main), "
        "right before this checkout's, so both are measured in the same run",
    )
    parser.add_argument("--baseline-label", default="baseline", help="what the baseline rows are called")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve.json")
    args = parser.parse_args()

    from transformers.utils import logging as transformers_logging

    from synthgrade.export import export_onnx

    transformers_logging.disable_progress_bar()
    use_wrk = args.load_generator == "wrk" or (args.load_generator == "auto" and wrk_available())
    if use_wrk and not wrk_available():
        raise SystemExit("wrk is not installed (apt-get install wrk), or pass --load-generator python")
    load_before = os.getloadavg()
    requests, bank_frame = load_requests()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        if args.teacher and args.student:
            teacher, student, models = args.teacher, args.student, f"trained: teacher {args.teacher}, student {args.student}"
        else:
            teacher, student, models = build_models(work, bank_frame)
        variants = []
        for role, source in (("teacher", teacher), ("student", student)):
            if role not in args.roles:
                continue
            if "pytorch" in args.runtimes:
                variants.append((role, "pytorch", source, None))
            for int8 in (False, True):
                if ("onnx-int8" if int8 else "onnx") not in args.runtimes:
                    continue
                target = work / f"{role}-onnx{'-int8' if int8 else ''}"
                result = export_onnx(source, target, int8=int8)
                variants.append((role, "onnx-int8" if int8 else "onnx", target, result))
        rows = []
        servers: list[tuple[str | None, Path | None]] = [(None, None)]
        if args.baseline_src:
            servers.insert(0, (args.baseline_label, args.baseline_src.resolve()))
        for role, runtime, directory, export in variants:
            direct = direct_latency(directory, requests, args.min_requests, args.threads)
            for label, source in servers:
                loads = measure_server(directory, args, requests, use_wrk, source)
                single = next((x for x in loads if x["clients"] == 1), loads[0])
                row = {
                    "model": role,
                    "runtime": runtime,
                    **({"server": label} if args.baseline_src else {}),
                    "parity_max_abs_diff": export["parity"]["max_abs_diff"] if export else None,
                    "model_bytes": export["onnx_bytes"] if export else None,
                    "load": loads,
                    "speedup_over_one_client": {
                        str(x["clients"]): round(x["responses_per_s"] / single["responses_per_s"], 2) for x in loads
                    },
                    "in_process_no_http": direct,
                }
                rows.append(row)
                figures = " | ".join(
                    f"{x['clients']:2d}: {x['responses_per_s']:6.1f}/s p50 {x['latency_ms_p50']:6.1f} "
                    f"p95 {x['latency_ms_p95']:6.1f} ms"
                    for x in loads
                )
                print(
                    f"{role:8s} {runtime:10s} {label or '':10s} {figures} | no HTTP p50 {direct['latency_ms_p50']:6.1f} ms",
                    flush=True,
                )
    import torch

    document = {
        "benchmark": "serve",
        "command": "python benchmarks/serving/bench_serve.py " + " ".join(sys.argv[1:]),
        "models": models,
        "inputs": "SciEntsBank test-unseen-answers (item_id, answer) pairs" if SCIENTSBANK.exists() else "built-in pairs",
        "request": "one response per POST /score, JSON over HTTP/1.1 keep-alive on 127.0.0.1",
        "clients": f"wrk -t1 -c<clients> -d{args.seconds:g}s (one C epoll thread, one keep-alive connection per client)"
        if use_wrk
        else "threads in the benchmark process, one http.client connection each",
        "load_generator": "wrk" if use_wrk else "python",
        "clients_share_the_machine": True,
        "server_threads": args.threads or "all cores",
        "server_options": args.serve_args
        or "defaults (1 process; batching: up to 64 rows, 3 ms wait, chunks of similar length, one model call per core)",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            # other work on the machine skews the figures: record how busy it was
            "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "results": rows,
    }
    write_json(args.out, document)
    args.out.with_suffix(".md").write_text(serve_markdown(document), encoding="utf-8")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


def serve_markdown(document: dict) -> str:
    """serve.json as a short markdown table: responses/s, p95 latency and speedup per client count."""
    clients = [x["clients"] for x in document["results"][0]["load"]] if document["results"] else []
    machine = document["machine"]
    compared = any("server" in row for row in document["results"])
    lines = [
        "# Scoring service throughput",
        "",
        f"`{document['command'].strip()}`",
        "",
        f"Models: {document['models']}. Requests: {document['request']}; inputs: {document['inputs']}. "
        f"Clients: {document['clients']}, on the same {machine['cpus']} CPU cores as the server. "
        f"Server: `synthgrade serve --threads {document['server_threads']}` with {document['server_options']}; "
        "the same server settings at every client count of a row. "
        f"Load average (1 min) before and after: {machine['load_average_1m_before_after']}.",
        "",
        "| model | runtime | "
        + ("server | " if compared else "")
        + " | ".join(f"{c} client{'s' if c > 1 else ''}: resp/s (p50 / p95 ms)" for c in clients)
        + " | speedup at "
        + ", ".join(str(c) for c in clients[1:])
        + " |",
        "|---|---|" + ("---|" if compared else "") + "---:|" * len(clients) + "---|",
    ]
    for row in document["results"]:
        cells = [f"{x['responses_per_s']} ({x['latency_ms_p50']} / {x['latency_ms_p95']})" for x in row["load"]]
        speedups = ", ".join(f"{row['speedup_over_one_client'][str(c)]}x" for c in clients[1:])
        server = f"{row['server'] or 'this branch'} | " if compared else ""
        lines.append(f"| {row['model']} | {row['runtime']} | {server}" + " | ".join(cells) + f" | {speedups} |")
    lines += [
        "",
        "Per row, `server_cores_used` and `server_cpu_ms_per_request` in serve.json show how much of the machine "
        "the server got and what a request cost it; `in_process_no_http` is the same model called directly.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
