"""User-facing errors: a clear one-line message and exit code 2, never a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

# The exit status of an entry point whose standard output was closed before it finished writing
# (`... | head -1`): what the Python documentation's note on SIGPIPE uses (library/signal.html).
CLOSED_OUTPUT_EXIT = 1


class UserError(Exception):
    """A mistake in the user's inputs (seed file, params, reviews, endpoint).

    The message names the file, line and field where one is known.
    """


def run_main(main: Callable[[], None]) -> None:
    """Run a command-line entry point (every stage, validate, the tools and benches): print user errors
    without a traceback (exit 2); a reader that closes standard output early (`| head -1`) ends it
    quietly, never with a BrokenPipeError traceback. Returns normally when `main` does."""
    try:
        try:
            main()
        finally:
            flush_standard_output()  # a closed pipe surfaces here, not in the interpreter's exit
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; rerun to continue", file=sys.stderr)
        raise SystemExit(130) from None
    except BrokenPipeError:  # a write inside `main` found the reader gone: nobody reads what is left
        flush_standard_output()
        raise SystemExit(CLOSED_OUTPUT_EXIT) from None


def flush_standard_output() -> None:
    """Flush stdout; if its reader is gone, point it at the null device so that neither this flush nor
    the interpreter's at exit prints a traceback (the recipe of the Python documentation's SIGPIPE note)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
