"""Item 8 of issue 13: a sweep's worker processes never outlive it, however it is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

SWEEP = textwrap.dedent(
    """
    import time
    from synthgrade.executors.base import ProcessExecutor
    for outcome in ProcessExecutor(2, "spawn").map(time.sleep, [600, 600, 600]):
        print(outcome, flush=True)
    """
)


def _workers(parent: psutil.Process, count: int, timeout: float = 60) -> list[psutil.Process]:
    """The pool's worker processes, once both are busy (the spawn start method also runs a resource tracker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [c for c in parent.children() if "resource_tracker" not in " ".join(c.cmdline())]
        if len(children) >= count:
            return children
        time.sleep(0.1)
    raise AssertionError(f"the pool did not start {count} workers")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "kill-9"])
def test_stopping_the_sweep_stops_its_workers(stop: signal.Signals) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    sweep = subprocess.Popen([sys.executable, "-c", SWEEP], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    workers: list[psutil.Process] = []
    try:
        workers = _workers(psutil.Process(sweep.pid), 2)
        time.sleep(0.5)  # let the workers pick up their (endless) tasks
        os.kill(sweep.pid, stop)
        sweep.wait(timeout=30)
        gone, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"orphan workers still running: {[p.pid for p in alive]}"
        if stop == signal.SIGTERM:
            assert sweep.returncode == 128 + signal.SIGTERM  # exited through SystemExit, not a traceback
            assert b"Traceback" not in sweep.stderr.read()
    finally:  # a failing run must not leave its processes behind either
        for process in [*workers, psutil.Process(sweep.pid)] if sweep.poll() is None else workers:
            if process.is_running():
                process.kill()
