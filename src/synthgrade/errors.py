"""The one exception type users see: a one-line message, no traceback, exit code 2 from the CLI."""


class SynthgradeError(Exception):
    """A problem with the user's input or environment, described in one line.

    ``problems`` carries the individual lines when several things are wrong at once
    (for example every bad row of a file), so the CLI can print one line per problem.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class ParameterError(SynthgradeError):
    """A bad value for one named parameter of a library function.

    The message names the Python parameter (``synthetic_weight must be positive``), which is what a
    Python caller passed; the CLI renames it to the flag its user typed (``--synthetic-weight``).
    """

    def __init__(self, param: str, problem: str) -> None:
        super().__init__(f"{param} {problem}")
        self.param = param
        self.problem = problem


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or a kill (SIGTERM): the work stops like on Ctrl-C; the CLI exits ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = int(signum)


#: Signals received by :func:`raise_on_signals`' handler, latest last: typer turns every KeyboardInterrupt
#: into a bare exit code 130, so the CLI reads here which signal it was.
_RECEIVED: list[int] = []


def raise_on_signals() -> None:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` in the main thread, so ``finally`` blocks run, a
    resumable command says how to resume, and :func:`interrupt_exit_code` tells the two apart."""
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    owner = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a forked worker inherited this handler: behave as Python's defaults would
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        _RECEIVED.append(signum)
        raise Interrupted(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def interrupt_exit_code(exc: BaseException | None = None) -> int:
    """The one exit-code rule for interrupts: 130 for SIGINT (Ctrl-C), 143 for SIGTERM (128 + the signal)."""
    import signal

    if isinstance(exc, Interrupted):
        return 128 + exc.signum
    return 128 + (_RECEIVED[-1] if _RECEIVED else int(signal.SIGINT))
