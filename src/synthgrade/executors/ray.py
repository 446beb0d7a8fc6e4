"""Running sweep tasks on a Ray cluster (``sweep --executor ray``), with no shared disk assumed.

Each task becomes one Ray task with declared resources. The files it reads (its ``inputs``: the
split and its synthetic set, prefixes relative to the run directory) travel through Ray's object
store, each put once per sweep stage; the worker rebuilds them in a private temporary run directory,
runs the task there and sends back its result plus every file it wrote. Only the driver writes the
real run directory, so a sweep stays resumable: a killed driver reruns only the trials missing from
``trials.jsonl``. A lost worker (crash, node gone) is retried by Ray (``max_retries``); an exception
raised by the task itself is not retried and comes back as its one-line error, as with the other
executors.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from synthgrade.errors import ParameterError, SynthgradeError
from synthgrade.executors.base import Executor, Outcome, describe_error, timed_call
from synthgrade.io import atomic_path


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise SynthgradeError("the ray executor needs Ray: pip install 'synthgrade[ray]'") from None
    return ray


def _input_files(run_dir: Path, prefixes: Iterable[str]) -> list[str]:
    """Files under ``run_dir`` whose relative POSIX path starts with one of ``prefixes``."""
    found = []
    for prefix in prefixes:
        base = run_dir / prefix.rsplit("/", 1)[0] if "/" in prefix else run_dir
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            relative = path.relative_to(run_dir).as_posix()
            if path.is_file() and relative.startswith(prefix) and not path.name.startswith("."):
                found.append(relative)
    return sorted(set(found))


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(directory).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*") if p.is_file()
    }


def run_staged(fn: Callable[[Any], Any], task: Any, names: list[str], *contents: bytes) -> tuple[Any, str | None, float, dict]:
    """Worker side: rebuild the task's inputs in a private run directory, run it, return what it wrote."""
    work = Path(tempfile.mkdtemp(prefix="synthgrade-ray-"))
    try:
        for name, data in zip(names, contents, strict=True):
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        before = _snapshot(work)
        result, error, seconds = timed_call(fn, dataclasses.replace(task, run_dir=str(work)))
        written = {name: (work / name).read_bytes() for name, stamp in _snapshot(work).items() if before.get(name) != stamp}
        return result, error, seconds, written if error is None else {}
    finally:
        shutil.rmtree(work, ignore_errors=True)


#: Seconds to wait for a TCP connection to a Ray head before calling it unreachable.
CONNECT_CHECK_S = 10.0


def check_address(address: str | None) -> None:
    """Refuse a ``ray://HOST:PORT`` (or ``HOST:PORT``) head nothing answers on, before any stage runs: Ray itself
    would retry for minutes."""
    import socket

    if not address or address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ParameterError("address", f"must be auto, ray://HOST:PORT or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_CHECK_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SynthgradeError(f"{address}: no Ray cluster answers there ({reason}); start one with `ray start --head`") from None


class RayExecutor(Executor):
    """Runs tasks as Ray tasks on a local or remote cluster; the driver alone writes the run directory.

    ``address``: ``None`` starts a local Ray instance, ``"auto"`` joins the cluster this machine is part
    of, ``"ray://head:10001"`` connects through Ray Client. ``gpus_per_task=None`` asks for one GPU per
    task when the cluster has any. ``runtime_env`` goes to the tasks (e.g. ``{"pip": ["synthgrade"]}``).
    """

    def __init__(
        self,
        address: str | None = None,
        cpus_per_task: float = 1.0,
        gpus_per_task: float | None = None,
        max_retries: int = 3,
        runtime_env: dict[str, Any] | None = None,
        num_cpus: int | None = None,
    ) -> None:
        if cpus_per_task <= 0:
            raise ParameterError("cpus_per_task", f"must be above 0, got {cpus_per_task}")
        if gpus_per_task is not None and gpus_per_task < 0:
            raise ParameterError("gpus_per_task", f"must be 0 or more, got {gpus_per_task}")
        check_address(address)
        self.address = address
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.max_retries = max_retries
        self.runtime_env = runtime_env
        self.num_cpus = num_cpus  # only for a local instance started here

    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():
            return
        options: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": True}
        if self.address:
            options["address"] = self.address
        elif self.num_cpus:
            options["num_cpus"] = self.num_cpus
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a local instance"
            raise SynthgradeError(f"cannot start Ray on {where}: {describe_error(exc)}") from None

    def _gpus(self, ray: Any) -> float:
        if self.gpus_per_task is not None:
            return self.gpus_per_task
        return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0

    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Outcome]:
        ray = _import_ray()
        self._connect(ray)
        options: dict[str, Any] = {"num_cpus": self.cpus_per_task, "num_gpus": self._gpus(ray), "max_retries": self.max_retries}
        if self.runtime_env:
            options["runtime_env"] = self.runtime_env
        remote = ray.remote(run_staged).options(**options)
        stored: dict[tuple[str, str], Any] = {}  # (run_dir, file) -> object ref: each file enters the store once
        pending: dict[Any, Any] = {}
        for task in tasks:
            run_dir = Path(task.run_dir)
            names = _input_files(run_dir, getattr(task, "inputs", ()))
            refs = []
            for name in names:
                if (task.run_dir, name) not in stored:
                    stored[(task.run_dir, name)] = ray.put((run_dir / name).read_bytes())
                refs.append(stored[(task.run_dir, name)])
            pending[remote.remote(fn, task, names, *refs)] = task
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(ref)
            try:
                result, error, seconds, written = ray.get(ref)
            except Exception as exc:  # the worker was lost more often than max_retries allows
                yield Outcome(task, None, f"Ray task lost: {describe_error(exc)}", 0.0)
                continue
            for name, data in written.items():
                with atomic_path(Path(task.run_dir) / name) as tmp:
                    tmp.write_bytes(data)
            yield Outcome(task, result, error, seconds)
