"""Finish: ``synthgrade build`` on the coded rows, in its own process, with its log and report linked from the page.

The build runs as the command line a user would type (``synthgrade build PROJECT/coded.csv --out
PROJECT/build ...``), so the page and the terminal give the same result, and a build killed with the
server resumes from ``build/work/state.json`` the next time Finish is pressed.
"""

from __future__ import annotations

import inspect
import os
import shlex
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

from synthgrade.coding.export import CODED_FILE
from synthgrade.coding.store import CodingStore
from synthgrade.errors import SynthgradeError

BUILD_FOLDER = "build"
BUILD_LOG = "build.log"


@cache
def build_takes_unlabeled() -> bool:
    """True once ``build`` accepts the uncoded responses (``--unlabeled``); until then it runs without them."""
    from synthgrade.build.config import BuildConfig
    from synthgrade.build.pipeline import run_build

    return "unlabeled" in BuildConfig.model_fields or "unlabeled" in inspect.signature(run_build).parameters


def build_command(project: Path, extra: list[str], unlabeled: Path | None) -> list[str]:
    """The ``synthgrade build`` command line for a project (``extra``: the user's ``--build-args``)."""
    command = [sys.executable, "-m", "synthgrade.cli", "build", str(project / CODED_FILE), "--out", str(project / BUILD_FOLDER)]
    if unlabeled is not None:
        command += ["--unlabeled", str(unlabeled)]
    return [*command, "--overwrite", *extra]


class BuildRun:
    """At most one build at a time per server; its output goes to ``PROJECT/build.log``.

    The build runs in its own session: stopping the page leaves it running to the end (its report appears in
    ``PROJECT/build/``), and a build killed half-way resumes the next time Finish is pressed."""

    def __init__(self, store: CodingStore, build_args: str = "") -> None:
        self.store = store
        self.extra = shlex.split(build_args)
        self.process: subprocess.Popen[bytes] | None = None
        self.started: float | None = None
        self.command: list[str] | None = None

    @property
    def log_path(self) -> Path:
        return self.store.project / BUILD_LOG

    @property
    def report_path(self) -> Path:
        return self.store.project / BUILD_FOLDER / "report" / "index.html"

    def start(self) -> dict[str, Any]:
        if self.process is not None and self.process.poll() is None:
            raise SynthgradeError("a build is already running")
        coded, _ = self.store.final_rows()
        labels_present = coded["label"].nunique() if len(coded) else 0
        if len(coded) < 10 or labels_present < 2:
            raise SynthgradeError(f"build needs at least 10 coded rows with two different labels; there are {len(coded)}")
        self.store.export()
        # every response coded: no pool to pass (build refuses an --unlabeled file without rows)
        has_uncoded = build_takes_unlabeled() and not self.store.uncoded().empty
        unlabeled = self.store.write_uncoded() if has_uncoded else None
        self.command = build_command(self.store.project, self.extra, unlabeled)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child process owns it from here
        env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="100")
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        self.started = time.time()
        return self.status()

    def status(self) -> dict[str, Any]:
        returncode = self.process.poll() if self.process is not None else None
        if self.process is None:
            state = "not started"
        elif returncode is None:
            state = "running"
        else:
            state = "finished" if returncode == 0 else f"failed (exit {returncode})"
        tail = ""
        if self.log_path.exists():
            with open(self.log_path, "rb") as handle:
                handle.seek(max(0, self.log_path.stat().st_size - 4000))
                tail = handle.read().decode("utf-8", "replace")
        return {
            "state": state,
            "command": " ".join(shlex.quote(part) for part in self.command or []),
            "seconds": round(time.time() - self.started, 1) if self.started else None,
            "log_tail": tail,
            "report": f"/{BUILD_FOLDER}/report/index.html" if self.report_path.exists() and returncode == 0 else None,
            "unlabeled": build_takes_unlabeled(),
        }
