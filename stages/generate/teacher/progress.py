"""What a teacher run has done: per-request figures, the run's report, and the progress bar on stderr.

The bar is tqdm's: requests done of all planned (cached ones count as done from the start),
elapsed time from the first second, the rate of this run's answers and the ETA from it, and a
postfix with cached / sent / failed / retries, USD spent, the requests allowed in flight and,
on the batch path, each batch's status and counts. `ticker` redraws it every second so the clock
moves even while a slow server has not answered yet. `farewell` is the line printed on exit while
requests are missing: finished answers are kept and a rerun resumes.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import IO, Any

from tqdm import tqdm

TTY_INTERVAL_S = 0.2  # a terminal line is rewritten in place: often is cheap
LOG_INTERVAL_S = 10.0  # a log file gets a new line each time: rarely
TICK_S = 1.0


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
    spent (from usage, or the worst case when an answer had none), rate-limit pauses taken, and
    the other run figures (`extra`: format fallbacks, concurrency, batches...) for the run log."""

    stats: dict[str, RequestStats]
    stopped_by_budget: bool = False
    spent_usd: float = 0.0
    rate_limit_pauses: int = 0  # times the x-ratelimit headers held new requests
    first_failure: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Progress:
    """The progress bar on `stream` (default stderr); the runner updates the counters and calls `update`."""

    def __init__(self, total: int, cached: int, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        tty = self.stream.isatty()
        self.tick_s = TICK_S if tty else LOG_INTERVAL_S  # a log gets a line every 10 s, a terminal a redraw a second
        self.total, self.cached = total, cached
        self.sent = self.failed = self.retries = self.tokens = 0
        self.cost = 0.0
        self.concurrency: float | None = None
        self.batch_status = ""
        self.bar = tqdm(
            total=total,
            initial=cached,
            desc="teacher",
            unit="req",
            file=self.stream,
            mininterval=TTY_INTERVAL_S if tty else LOG_INTERVAL_S,
            ascii=not tty,
            dynamic_ncols=tty,
            smoothing=0,  # the rate over the whole run: answers come in bursts
        )
        self.update(force=True)

    @property
    def done(self) -> int:
        """Requests done: cached, answered or given up."""
        return self.cached + self.sent + self.failed

    def postfix(self) -> str:
        """cached / sent / failed / retries, tokens, USD, allowed in flight and the batch status."""
        text = (
            f"cached {self.cached}, sent {self.sent}, failed {self.failed}, retries {self.retries},"
            f" {self.tokens:,} tokens, ${self.cost:.4f}"
        )
        if self.concurrency is not None:
            text += f", in flight <= {int(self.concurrency)}"
        return text + (f" | {self.batch_status}" if self.batch_status else "")

    def update(self, force: bool = False) -> None:
        """Move the bar to `done` and refresh its postfix (at most every interval unless `force`)."""
        delta = self.done - self.bar.n
        self.bar.set_postfix_str(self.postfix(), refresh=False)
        if delta:
            self.bar.update(delta)
        if force:
            self.bar.refresh()

    async def ticker(self) -> None:
        """Redraw every TICK_S seconds (LOG_INTERVAL_S when not a terminal) until cancelled: elapsed
        time, rate and ETA stay current."""
        while True:
            await asyncio.sleep(self.tick_s)
            self.update(force=True)

    def note(self, text: str) -> None:
        """A line of its own above the bar (the bar is redrawn below it)."""
        self.bar.write(text, file=self.stream)

    def close(self) -> None:
        """Draw the final state and end the bar's line."""
        self.update()
        self.bar.close()


def farewell(kept: int, missing: int, cache: str) -> str:
    """The line on exit while requests are missing: what is kept, and that a rerun resumes."""
    return (
        f"teacher: {kept} finished answers are kept in {cache}; {missing} requests are still missing."
        " A rerun (`dvc repro`) resumes: it sends only the missing ones."
    )
