"""User-facing errors: a clear one-line message and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """A mistake in the user's inputs (seed file, params, reviews, endpoint).

    The message names the file, line and field where one is known.
    """


def run_main(main: Callable[[], None]) -> None:
    """Run a stage entry point; print user errors without a traceback."""
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; rerun to continue", file=sys.stderr)
        raise SystemExit(130) from None
