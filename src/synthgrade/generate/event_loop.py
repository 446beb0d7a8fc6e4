"""Running the calls' coroutine: from plain code (Ctrl-C cancels the calls cleanly) or from a running loop (Jupyter)."""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import Any


def _run_interruptible(coroutine: Any) -> Any:
    """``asyncio.run`` where Ctrl-C or a kill cancels the calls (each closes its connection) and then reaches the
    process's own handler, instead of being raised inside whichever task happened to run (a traceback)."""
    signals = (signal.SIGINT, signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(coroutine)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    received: list[int] = []

    async def main() -> Any:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()

        def stop(signum: int) -> None:
            received.append(signum)
            if task is not None:
                task.cancel()

        for sig in signals:
            try:
                loop.add_signal_handler(sig, stop, sig)
            except NotImplementedError:  # Windows event loops: signals keep their process handlers
                break
        return await coroutine

    result = None
    try:
        result = asyncio.run(main())
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for sig, handler in previous.items():  # the loop leaves the defaults behind, not the handlers it found
            signal.signal(sig, handler)
    if not received:
        return result
    signal.raise_signal(received[-1])  # the process's handler: Interrupted from the CLI, Python's default otherwise
    raise KeyboardInterrupt  # a handler that returned: stop all the same


def run_coroutine(coroutine: Any) -> Any:
    """``asyncio.run``, also from code that already runs an event loop (Jupyter): then in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_interruptible(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
