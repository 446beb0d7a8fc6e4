"""Serving the tiny scorer over real HTTP: uvicorn in a thread, or ``synthgrade serve`` in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from synthgrade.serve.server import free_port

TOKEN = "test-token-0123456789abcdef"
MAX_BODY = 4_000
MAX_BATCH = 8


class ServerThread:
    """uvicorn in a background thread on 127.0.0.1 and a free port; stopped when the test module ends."""

    def __init__(self, app) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_cli_server(model: Path, token: str | None = None) -> tuple[subprocess.Popen, str]:
    """``synthgrade serve`` in a subprocess (token through the environment); returns the process and its URL."""
    port = free_port()
    env = {**os.environ, "SYNTHGRADE_TOKEN": token} if token else {k: v for k, v in os.environ.items() if k != "SYNTHGRADE_TOKEN"}
    process = subprocess.Popen(
        [sys.executable, "-m", "synthgrade.cli", "serve", str(model), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited early: {process.stdout.read() if process.stdout else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("serve did not come up")


def stop_cli_server(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output
