"""The background side of the model in the loop: a thread that notices new labels and hands the retraining
to a worker process, so a page request never waits for a model (and never shares a core's GIL with one).

The worker process runs at a lower CPU priority. When the server is killed, the worker's pipe closes and
it exits; everything it produced is already in the database.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from synthgrade.coding.store import CodingStore
from synthgrade.models import DEFAULT_ENCODER

#: Labels before the first retraining (and at least two different labels among them).
DEFAULT_MIN_LABELS = 10
#: New labels between retrainings.
DEFAULT_RETRAIN_EVERY = 5


@dataclass(frozen=True)
class LoopSettings:
    min_labels: int = DEFAULT_MIN_LABELS
    retrain_every: int = DEFAULT_RETRAIN_EVERY
    strategy: str | None = None  # None: the select stage's default strategy
    encoder: str = DEFAULT_ENCODER
    audit_model: str = f"hybrid:{DEFAULT_ENCODER}"
    seed: int = 0


def _prepare_worker() -> None:
    """Lower the worker's CPU priority (the page comes first); exit when the server is gone, even after a
    ``kill -9`` that runs no cleanup; give its own pools Linux's usual fork (a spawned process inherits
    "spawn", and cleanlab's label-issue pool relies on fork: it shares globals)."""
    import multiprocessing

    try:
        os.nice(10)
    except OSError:  # pragma: no cover - not allowed on some systems; the work still runs
        pass
    if "fork" in multiprocessing.get_all_start_methods():
        multiprocessing.set_start_method("fork", force=True)
    server = os.getppid()

    def exit_with_the_server() -> None:
        while os.getppid() == server:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=exit_with_the_server, name="exit-with-server", daemon=True).start()


class BackgroundTrainer:
    """Retrains every ``retrain_every`` labels after the first ``min_labels``; runs the audit on request."""

    def __init__(self, store: CodingStore, settings: LoopSettings) -> None:
        self.store = store
        self.settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._audit_wanted = False
        self._executor: ProcessPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        curve = store.curve()
        self.trained_on: int | None = int(curve["n"].iloc[-1]) if len(curve) else None
        self.state = "waiting for labels"
        self.selector: str | None = None
        self.last_seconds: float | None = None
        self.last_error: str | None = None
        self.notes: list[str] = []
        self.audit_state = "not run" if not len(store.open_suspects()) else "from the last retraining"

    def start(self) -> None:
        import multiprocessing

        self._executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_prepare_worker)
        self._thread = threading.Thread(target=self._run, name="coding-trainer", daemon=True)
        self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def poke(self) -> None:
        """A label changed: look whether a retraining is due (returns at once)."""
        self._wake.set()

    def request_audit(self) -> None:
        self._audit_wanted = True
        self._wake.set()

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "trained_on": self.trained_on,
            "selector": self.selector,
            "seconds": self.last_seconds,
            "error": self.last_error,
            "notes": self.notes,
            "audit": self.audit_state,
            "min_labels": self.settings.min_labels,
            "retrain_every": self.settings.retrain_every,
        }

    def _due(self, coded_rows: int, labels_present: int) -> bool:
        if coded_rows < self.settings.min_labels or labels_present < 2:
            return False
        return self.trained_on is None or abs(coded_rows - self.trained_on) >= self.settings.retrain_every

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=10.0)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._step()
            except Exception as exc:  # keep the page alive; the panel shows what went wrong
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.state = "failed (see the error); retrying after the next labels"
                traceback.print_exc()
                time.sleep(1.0)

    def _step(self) -> None:
        assert self._executor is not None
        from synthgrade.coding.model import audit, fit_round  # here, not at import: the page starts without sklearn

        labels = self.store.settings().labels
        coded, _ = self.store.final_rows()
        if self._audit_wanted and len(coded) >= 2:
            self._audit_wanted = False
            self.audit_state = "running"
            found = self._executor.submit(audit, coded, labels, self.settings.audit_model, self.settings.seed).result()
            self.store.store_suspects(found)
            self.audit_state = f"done at {len(coded)} coded rows"
        if not self._due(len(coded), coded["label"].nunique()):
            if self.trained_on is None:
                self.state = (
                    f"waiting for {self.settings.min_labels} coded rows with at least two different labels ({len(coded)} so far)"
                )
            return
        self.state = f"retraining on {len(coded)} coded rows"
        uncoded = self.store.uncoded()
        future = self._executor.submit(
            fit_round,
            coded,
            uncoded,
            labels,
            strategy=self.settings.strategy,
            encoder=self.settings.encoder,
            seed=self.settings.seed,
        )
        result = future.result()
        # A finished full audit is not replaced by the cheap scorer's suspects.
        suspects = None if self.audit_state.startswith("done") else result.suspects
        self.store.store_model_results(result.n, result.curve, result.suggestions, result.queue, suspects)
        self.trained_on, self.selector, self.last_seconds = result.n, result.selector, result.seconds
        self.notes, self.last_error = result.notes, None
        self.state = f"trained on {result.n} coded rows"
        if self.audit_state == "not run":
            self.audit_state = "from the last retraining (tfidf, out of fold)"
        self._wake.set()  # labels that came in during the retraining may already make the next one due
