"""Running the scoring app with uvicorn, with the binding rule: off loopback only behind a bearer token."""

from __future__ import annotations

import ipaddress
import logging
import socket
from pathlib import Path

from synthgrade.console import console
from synthgrade.errors import SynthgradeError
from synthgrade.modeling import Scorer, load_scorer
from synthgrade.serve.app import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT_S, create_app

MIN_TOKEN_CHARS = 16


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
        raise SynthgradeError(
            f"--token must be at least {MIN_TOKEN_CHARS} characters "
            "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if not is_loopback(host) and not token:
        raise SynthgradeError(
            f"refusing to listen on {host} without a token: anyone who can reach it could use the model; "
            "pass --token (or set SYNTHGRADE_TOKEN), or bind to 127.0.0.1"
        )


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
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Load the model and serve it until interrupted (blocking)."""
    import uvicorn

    from synthgrade.export import set_inference_threads

    check_binding(host, token)
    set_inference_threads(threads)
    scorer = model if isinstance(model, Scorer) else load_scorer(model)
    app = create_app(scorer, token=token, max_body_bytes=max_body_bytes, max_batch=max_batch, timeout_s=timeout_s)
    where = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    console.print(
        f"serving the {scorer.info.kind} model (labels {', '.join(scorer.labels)}) on {where} "
        f"({'bearer token required' if token else 'no token: loopback only'}); Ctrl+C stops",
        highlight=False,
    )
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, server_header=False, date_header=False)
    logging.getLogger("uvicorn.access").addFilter(QueryRedactingFilter())  # after Config, which sets up logging
    uvicorn.Server(config).run()
