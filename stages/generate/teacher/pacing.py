"""Pacing requests from what the server shows: its request allowance, and how often it says 429.

- `RequestAllowance`: OpenAI and compatible servers announce the allowance on every answer
  (`x-ratelimit-limit-requests`, `-remaining-requests`, `-reset-requests`). Requests are let out
  while the allowance lasts; when it is spent they wait for its reset, and after the reset the full
  limit is available again. Requests still in flight when an answer's count was taken are charged
  against the allowance it reports, so workers do not overrun it by the number in flight.
- `AdaptiveConcurrency`: additive increase, multiplicative decrease (AIMD, as TCP does) of the
  number of requests in flight, between 1 and params `concurrency`: every answer adds 1/limit
  (about +1 per round of answers); a 429 cuts it by half the share of 429s among the answers since
  the last cut (DCTCP's rule: a burst where most requests were refused halves it, a lone 429 among
  many answers trims it), at most once per answer latency. A server that limits without announcing
  it (no headers, 429s with `retry-after` only) is then met at about its rate instead of with a
  storm of refused requests, and an occasional 429 does not collapse the concurrency.

All times are seconds (time.monotonic).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from stages.generate.teacher.limits import MAX_RATE_LIMIT_PAUSE_S, RESET_MARGIN_S, parse_reset

MIN_DECREASE_INTERVAL_S = 0.05


def _header_int(headers: Any, name: str) -> int | None:
    try:
        return int(float(headers.get(name)))
    except (TypeError, ValueError, AttributeError):
        return None


class RequestAllowance:
    """The server's announced request allowance (inactive until an answer announces one).

    `take()` before sending returns a ticket; `observe(headers, ticket)` with the answer's (or the
    refusal's) headers; `waits` counts the resets waited for.
    """

    def __init__(self) -> None:
        self.limit: int | None = None
        self.remaining: float | None = None
        self.reset_at = 0.0
        self.in_flight: set[int] = set()
        self.next_ticket = 0
        self.waits = 0
        self._waited_for = -1.0

    async def take(self) -> int:
        """Wait until the allowance has a request left, spend one, and return the request's ticket."""
        while self.remaining is not None:
            now = time.monotonic()
            if now >= self.reset_at:
                if self.limit is None:
                    self.remaining = None  # reset, and no limit known: unknown until the next answer
                    break
                self.remaining = float(self.limit)
                self.reset_at = float("inf")  # until an answer says when the new window resets
            if self.remaining >= 1:
                self.remaining -= 1
                break
            if self.reset_at == float("inf"):
                await asyncio.sleep(MIN_DECREASE_INTERVAL_S)  # spent; waiting for an answer to say when it resets
                continue
            if self._waited_for != self.reset_at:
                self._waited_for = self.reset_at
                self.waits += 1
            await asyncio.sleep(self.reset_at - now)
        ticket = self.next_ticket
        self.next_ticket += 1
        self.in_flight.add(ticket)
        return ticket

    def observe(self, headers: Any, ticket: int) -> None:
        """Read an answer's x-ratelimit request headers; `ticket` is its request's (from take)."""
        self.in_flight.discard(ticket)
        if headers is None:
            return
        remaining = _header_int(headers, "x-ratelimit-remaining-requests")
        reset = parse_reset(headers.get("x-ratelimit-reset-requests"))
        if remaining is None or reset is None:
            return
        self.limit = _header_int(headers, "x-ratelimit-limit-requests") or self.limit
        # Requests sent after this one may not be in the server's count yet: charge them now.
        later = sum(1 for other in self.in_flight if other > ticket)
        reset_at = time.monotonic() + min(reset, MAX_RATE_LIMIT_PAUSE_S) + RESET_MARGIN_S
        same_window = self.remaining is not None and abs(reset_at - self.reset_at) <= max(0.05, 0.1 * reset)
        # Answers arrive out of order: within one window the smallest count is the freshest.
        self.remaining = min(self.remaining or 0.0, remaining - later) if same_window else float(remaining - later)
        self.reset_at = reset_at

    def forget(self, ticket: int) -> None:
        """A request that got no answer (a connection error): it no longer counts as in flight."""
        self.in_flight.discard(ticket)


class AdaptiveConcurrency:
    """How many requests may be in flight: AIMD between 1 and `maximum` (see the module docstring).

    `limit` is a float (the additive step is fractional); `lowest` is the smallest it reached and
    `decreases` how often it was cut.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self.lowest = float(maximum)
        self.active = 0
        self.decreases = 0
        self._changed = asyncio.Event()
        self._latency = MIN_DECREASE_INTERVAL_S
        self._next_decrease = 0.0
        self._answers = 0  # since the last cut
        self._refusals = 0

    async def acquire(self) -> None:
        """Wait for a free place under the current limit, then take it."""
        while self.active >= max(1, int(self.limit)):
            self._changed.clear()
            await self._changed.wait()
        self.active += 1

    def release(self) -> None:
        """Give a place back (after an answer, a refusal or an error)."""
        self.active -= 1
        self._changed.set()

    def succeeded(self, latency_s: float) -> None:
        """An answer arrived after `latency_s`: add 1/limit (up to `maximum`)."""
        self._latency = 0.8 * self._latency + 0.2 * latency_s
        self._answers += 1
        self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
        self._changed.set()

    def throttled(self) -> None:
        """A 429: cut the limit by half the share of 429s since the last cut, once per answer latency
        (the rest of a burst is the same signal)."""
        now = time.monotonic()
        self._refusals += 1
        if now < self._next_decrease:
            return
        share = self._refusals / (self._refusals + self._answers)
        self._answers = self._refusals = 0
        self._next_decrease = now + max(MIN_DECREASE_INTERVAL_S, self._latency)
        self.limit = max(1.0, self.limit * (1.0 - share / 2))
        self.lowest = min(self.lowest, self.limit)
        self.decreases += 1
