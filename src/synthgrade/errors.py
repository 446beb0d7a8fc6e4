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
