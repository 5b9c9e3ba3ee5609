"""User-facing errors: the CLI prints `tinykws: <message>` on one line and exits non-zero."""


class TinyKwsError(Exception):
    """An error caused by the user's input or environment, shown without a traceback."""

    exit_code = 2
