"""What a teacher run has done: per-request figures, the run's report, and the status line on stderr."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import IO

TTY_INTERVAL_S = 0.2  # a terminal line is rewritten in place: often is cheap
LOG_INTERVAL_S = 10.0  # a log file gets a new line each time: rarely


@dataclass
class RequestStats:
    """One request's figures in this run (a cached request has none): whether it was sent, its
    retries, why it was given up (None: it was not), USD counted against the budget, and tokens
    from the answer's usage."""

    sent: bool = False
    retries: int = 0
    failure: str | None = None  # set when the request was given up (not cached)
    charged_usd: float = 0.0  # what this run counted against the budget for it
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add_usage(self, usage: dict[str, int]) -> int:
        """Add an answer's usage ({"prompt_tokens", "completion_tokens"}); returns its total tokens."""
        prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        return prompt + completion


@dataclass
class RunReport:
    """What sending did: RequestStats per request key, whether the budget stopped the run, USD
    spent (from usage, or the worst case when an answer had none) and rate-limit pauses taken."""

    stats: dict[str, RequestStats]
    stopped_by_budget: bool = False
    spent_usd: float = 0.0
    rate_limit_pauses: int = 0  # times the x-ratelimit headers held new requests


class Progress:
    """One status line on `stream` (default stderr): rewritten in place on a terminal, a line every
    LOG_INTERVAL_S seconds otherwise. The runner updates the counters; `update` prints."""

    def __init__(self, total: int, cached: int, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.interval = TTY_INTERVAL_S if self.tty else LOG_INTERVAL_S
        self.total, self.cached = total, cached
        self.sent = self.failed = self.retries = self.tokens = 0
        self.cost = 0.0
        self.started = self.last = time.monotonic()

    def line(self) -> str:
        """The status: requests done of total, cached / sent / failed, retries, tokens, USD and requests a second."""
        done = self.cached + self.sent + self.failed
        rate = self.sent / max(1e-9, time.monotonic() - self.started)
        return (
            f"teacher: {done}/{self.total} done (cached {self.cached}, sent {self.sent}, failed {self.failed},"
            f" retries {self.retries}) | {self.tokens:,} tokens | ${self.cost:.4f} | {rate:.1f} req/s"
        )

    def update(self, force: bool = False) -> None:
        """Print the line if the interval has passed (or `force`: always, ending the line)."""
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        end = "\n" if force or not self.tty else ""
        prefix = "\r" if self.tty else ""
        print(prefix + self.line(), end=end, file=self.stream, flush=True)
