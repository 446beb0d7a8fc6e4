"""Running the scoring app with uvicorn, with the binding rule: off loopback only behind a bearer token."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from synthgrade.console import console
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.modeling import Scorer, load_scorer
from synthgrade.serve.app import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT_S, create_app

MIN_TOKEN_CHARS = 16
#: How ``serve --workers N`` hands its settings to the worker processes (the token travels as SYNTHGRADE_TOKEN).
WORKER_SETTINGS_ENV = "SYNTHGRADE_SERVE_SETTINGS"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; anything else (0.0.0.0, a LAN address, a name) is not."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without a token, and refuse tokens too short to mean anything."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ParameterError(
            "token",
            f"must be at least {MIN_TOKEN_CHARS} characters "
            "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')",
        )
    if not is_loopback(host) and not token:
        raise SynthgradeError(
            f"refusing to listen on {host} without a token: anyone who can reach it could use the model; "
            "pass --token (or set SYNTHGRADE_TOKEN), or bind to 127.0.0.1"
        )


def default_parallel_calls(threads: int | None, workers: int = 1) -> int:
    """One model call per core when each call is held to ``threads`` threads (cores shared among the
    ``workers`` processes); one at a time when calls use every core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // (threads * max(1, workers))) if threads else 1


class QueryRedactingFilter(logging.Filter):
    """Drop query strings from uvicorn's access log lines: a client may put a token in ``?token=...``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?<redacted>", *args[3:])
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now (for tests and benchmarks)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def run_server(
    model: Scorer | str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch: int = DEFAULT_MAX_BATCH,
    log_level: str = "info",
    threads: int | None = None,
    workers: int = 1,
    batching: dict[str, Any] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Load the model and serve it until interrupted (blocking).

    ``workers > 1`` runs that many processes (uvicorn's supervisor), each with its own copy of the
    model, sharing the port; ``model`` must then be a directory. ``batching`` holds create_app's
    ``max_rows_per_call``, ``max_wait_s``, ``chunk_rows`` and ``parallel_calls``.
    """
    import uvicorn

    from synthgrade.export import set_inference_threads

    check_binding(host, token)
    if workers < 1:
        raise ParameterError("workers", f"must be at least 1, got {workers}")
    batching = dict(batching or {})
    if not batching.get("parallel_calls"):
        batching["parallel_calls"] = default_parallel_calls(threads, workers)
    if workers > 1:
        if isinstance(model, Scorer):
            raise SynthgradeError("serving with several workers needs a model directory, not a loaded scorer")
        _run_workers(Path(model), host, port, token, max_body_bytes, max_batch, log_level, threads, workers, batching, timeout_s)
        return
    set_inference_threads(threads)
    scorer = model if isinstance(model, Scorer) else load_scorer(model)
    app = create_app(scorer, token=token, max_body_bytes=max_body_bytes, max_batch=max_batch, timeout_s=timeout_s, **batching)
    where = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    console.print(
        f"serving the {scorer.info.kind} model (labels {', '.join(scorer.labels)}) on {where} "
        f"({'bearer token required' if token else 'no token: loopback only'}); Ctrl+C stops",
        highlight=False,
    )
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, server_header=False, date_header=False)
    logging.getLogger("uvicorn.access").addFilter(QueryRedactingFilter())  # after Config, which sets up logging
    uvicorn.Server(config).run()


def _run_workers(
    model: Path,
    host: str,
    port: int,
    token: str | None,
    max_body_bytes: int,
    max_batch: int,
    log_level: str,
    threads: int | None,
    workers: int,
    batching: dict[str, Any],
    timeout_s: float,
) -> None:

    from synthgrade.modeling import load_scorer
    from synthgrade.serve.metrics import MULTIPROC_ENV

    if not model.is_dir():
        raise SynthgradeError(f"{model}: not a model directory")
    load_scorer(model)  # fail here, once, with a clear message, not in every worker
    settings = {
        "model": str(model.resolve()),
        "max_body_bytes": max_body_bytes,
        "max_batch": max_batch,
        "threads": threads,
        "batching": batching,
        "timeout_s": timeout_s,
    }
    with tempfile.TemporaryDirectory(prefix="synthgrade-metrics-") as metrics_dir:
        os.environ[WORKER_SETTINGS_ENV] = json.dumps(settings)
        os.environ[MULTIPROC_ENV] = metrics_dir  # workers write their metrics here; /metrics sums them
        if token:
            os.environ["SYNTHGRADE_TOKEN"] = token
        where = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        console.print(
            f"serving {model} with {workers} worker processes on {where} "
            f"({'bearer token required' if token else 'no token: loopback only'}); Ctrl+C stops",
            highlight=False,
        )
        _supervise(workers, host, port, log_level)


def _supervise(workers: int, host: str, port: int, log_level: str) -> None:
    """Start ``workers`` processes that each listen on ``host:port`` with SO_REUSEPORT; stop them all on a signal.

    uvicorn's own ``--workers`` shares one listening socket, and whichever worker is awake first
    accepts every new connection: with long-lived keep-alive clients one worker got all 16 of them and
    the other stayed idle (serve.json: one core used at every client count). With a socket each, the
    kernel spreads connections over the workers.
    """
    import multiprocessing
    import signal

    if not hasattr(socket, "SO_REUSEPORT"):
        raise SynthgradeError("several workers need SO_REUSEPORT sockets (Linux, BSD, macOS); run one process per port")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))  # a clear error now if the port is taken, not one per worker
        except OSError as exc:
            raise SynthgradeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker_main, args=(host, port, log_level), daemon=False) for _ in range(workers)]
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for process in processes:
            process.start()
        while not stopping and all(process.is_alive() for process in processes):
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = [p.exitcode for p in processes if p.exitcode not in (0, -signal.SIGTERM)]
    if failed and not stopping:
        raise SynthgradeError(f"a worker process exited with status {failed[0]}; see the messages above")


def _worker_main(host: str, port: int, log_level: str) -> None:
    """One worker process: its own SO_REUSEPORT listening socket, the app from :func:`worker_app`."""
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    config = uvicorn.Config(
        "synthgrade.serve.server:worker_app",
        factory=True,
        log_level=log_level,
        server_header=False,
        date_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


def worker_app():
    """The app of one ``--workers`` process, built from the settings the parent left in the environment."""
    from synthgrade.export import set_inference_threads
    from synthgrade.modeling import load_scorer

    settings = json.loads(os.environ[WORKER_SETTINGS_ENV])
    set_inference_threads(settings["threads"])
    logging.getLogger("uvicorn.access").addFilter(QueryRedactingFilter())  # each worker sets up its own logging
    return create_app(
        load_scorer(settings["model"]),
        token=os.environ.get("SYNTHGRADE_TOKEN") or None,
        max_body_bytes=settings["max_body_bytes"],
        max_batch=settings["max_batch"],
        timeout_s=settings["timeout_s"],
        **settings["batching"],
    )
