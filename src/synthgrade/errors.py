"""The one exception type users see: a one-line message, no traceback, exit code 2 from the CLI."""


class SynthgradeError(Exception):
    """A problem with the user's input or environment, described in one line.

    ``problems`` carries the individual lines when several things are wrong at once
    (for example every bad row of a file), so the CLI can print one line per problem.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])
