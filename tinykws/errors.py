"""User-facing errors: the CLI prints `tinykws: <message>` on one line and exits non-zero."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn


class TinyKwsError(Exception):
    """An error caused by the user's input or environment, shown without a traceback."""

    exit_code = 2


def run_script(main: Callable[[], int]) -> NoReturn:
    """`sys.exit(main())` for a script run outside the CLI, with the CLI's one line for a TinyKwsError."""
    try:
        sys.exit(main())
    except TinyKwsError as e:
        print(f"tinykws: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except OSError as e:  # a file named on the command line that is missing or unreadable: one line too
        print(f"tinykws: {e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        sys.exit(2)
