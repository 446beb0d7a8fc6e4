"""``synthgrade code``: open (or reopen) a coding project and serve its page until interrupted."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from synthgrade.coding.database import Settings
from synthgrade.coding.store import CodingStore
from synthgrade.coding.trainer import LoopSettings
from synthgrade.console import console
from synthgrade.data import ColumnMap, load_responses, parse_label_list
from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.serve import check_binding, is_loopback
from synthgrade.serve.server import QueryRedactingFilter

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def open_project(
    pool: str | Path,
    project: str | Path,
    *,
    labels: str | list[str] | None = None,
    coded: str | Path | None = None,
    double: float | None = None,
    seed: int = 0,
    columns: ColumnMap | None = None,
) -> tuple[CodingStore, dict[str, int]]:
    """Create the project from POOL (and CODED), or reopen it; returns the store and what was added.

    The labels come from ``labels``, else from the coded file, else from a project made before; the
    double-coding share from ``double``, else from the project, else 0.
    """
    store = CodingStore(project)
    if double is None:
        double = store.settings().double if store.path.exists() else 0.0
    if not 0.0 <= double <= 1.0:
        raise ParameterError("double", f"must be a share between 0 and 1, got {double:g}")
    declared = parse_label_list(labels)
    coded_frame = load_responses(coded, columns, declared) if coded is not None else None
    if declared is None and coded_frame is not None:
        declared = list(coded_frame.attrs["labels"])
    if declared is None and store.path.exists():
        declared = list(store.settings().labels)
    if declared is None:
        raise ParameterError("labels", "is needed: name the labels (e.g. --labels correct,partial,incorrect) or give --coded")
    if len(declared) < 2:
        raise ParameterError("labels", f"needs at least two labels, got {declared}")
    pool_frame = load_responses(pool, columns, declared, require_label=False)
    counts = store.open(_canonical(pool_frame), Settings(tuple(declared), double, seed), _canonical(coded_frame))
    return store, counts


def _canonical(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    keep = [c for c in ("id", "text", "label", "item_id", "item_text", "reference") if c in frame.columns]
    return frame[keep]


def run_coding_server(
    project: str | Path,
    *,
    coder: str = "coder",
    host: str = "127.0.0.1",
    port: int = 8420,
    token: str | None = None,
    loop: LoopSettings | None = None,
    build_args: str = "",
    log_level: str = "warning",
) -> None:
    """Serve the coding page of an opened project (blocking; Ctrl+C stops, nothing is lost either way)."""
    import uvicorn

    from synthgrade.coding.app import create_app

    check_binding(host, token)
    allowed = LOOPBACK_NAMES | {host.strip("[]").lower()} if is_loopback(host) else None
    app = create_app(project, coder=coder, token=token, allowed_hosts=allowed, loop=loop, build_args=build_args)
    where = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
    suffix = "?token=<your token>" if token else ""
    console.print(f"coding page for {coder} at {where}{suffix} (Ctrl+C stops; every label is already saved)", highlight=False)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, server_header=False, date_header=False)
    logging.getLogger("uvicorn.access").addFilter(QueryRedactingFilter())
    try:
        uvicorn.Server(config).run()
    except OSError as exc:  # pragma: no cover - the port is taken
        raise SynthgradeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
