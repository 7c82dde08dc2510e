"""What holds teacher requests back: the cost budget, rate limiters, and pauses the server asks for.

- `Budget`: `max_cost_usd` is a hard cap. Each attempt reserves its worst-case cost (prompt bytes
  as prompt tokens, plus max_tokens; `token_cost`) before it is sent, and no attempt starts that
  could pass the cap; the reservation is settled with what the answer's usage says it cost.
- `RateLimiter`: token buckets for params `rpm_limit` (requests) and `tpm_limit` (tokens) a minute.
- `SharedPause`: one pause for every worker, set from a `retry-after` (parse_retry_after) or when
  the `x-ratelimit-remaining-*` headers say the window is spent (rate_limit_pause, until
  `x-ratelimit-reset-*`), so params limits set above the account's real ones cost a pause, not a
  storm of 429s.
- `retry_delay`: the server's retry-after as given, else exponential backoff with jitter.
- pacing.py adds the server's announced request allowance and adaptive (AIMD) concurrency.

All times are seconds (time.monotonic for deadlines); costs are USD.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import re
import time
from datetime import datetime
from typing import Any

from stages.generate.params import ModelPrice

RETRY_AFTER_JITTER = 0.1
UNIX_TIME_AFTER = 1e9  # a bare x-ratelimit-reset value this large is a Unix time, not seconds
UNIX_MILLISECONDS_AFTER = 1e12  # ... and this large, a Unix time in milliseconds
RESET_MARGIN_S = 0.01  # servers round the time to reset down to the millisecond
MAX_RATE_LIMIT_PAUSE_S = 300.0  # a daily window's reset is hours away: retry and fail visibly instead
BUDGET_TOLERANCE_USD = 1e-12  # float sums of many small costs may overshoot an exact cap by rounding
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def token_cost(prompt_tokens: int, completion_tokens: int, price: ModelPrice) -> float:
    """USD for so many tokens at `price` (USD per million input / output tokens)."""
    return (prompt_tokens * price.input_per_1m + completion_tokens * price.output_per_1m) / 1e6


def request_cost(usage: dict[str, Any] | None, price: ModelPrice) -> float | None:
    """USD of one answer from its `usage` ({"prompt_tokens", "completion_tokens"}); None without usage."""
    if not usage:
        return None
    return token_cost(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), price)


class BudgetStop(Exception):
    """The next attempt's worst case does not fit in the budget: the run stops sending."""


class Budget:
    """Spent plus reserved never exceeds `limit_usd` (None: no cap): a request is only sent once its worst case fits."""

    def __init__(self, limit_usd: float | None) -> None:
        self.limit = limit_usd
        self.spent = 0.0
        self.reserved = 0.0

    def try_reserve(self, amount: float) -> bool:
        """Reserve `amount` USD if it fits under the limit; False (nothing reserved) if it does not."""
        if self.limit is not None and self.spent + self.reserved + amount > self.limit + BUDGET_TOLERANCE_USD:
            return False
        self.reserved += amount
        return True

    def settle(self, reserved: float, charged: float) -> None:
        """Release a reservation of `reserved` USD and count `charged` USD as spent."""
        self.reserved -= reserved
        self.spent += charged


class RateLimiter:
    """Token bucket: `per_minute` units a minute (None: unlimited), bursts up to one second's worth
    (at least one request); a request bigger than the burst may run the bucket into debt rather
    than wait forever."""

    def __init__(self, per_minute: int | None) -> None:
        self.rate = per_minute / 60.0 if per_minute else None
        self.capacity = max(1.0, self.rate) if self.rate else 0.0
        self.level = self.capacity
        self.updated = time.monotonic()

    async def acquire(self, amount: float) -> None:
        """Wait until `amount` units (requests or tokens) may be spent, then spend them."""
        if self.rate is None:
            return
        needed = min(amount, self.capacity)
        while True:
            now = time.monotonic()
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now
            if self.level >= needed:
                self.level -= amount
                return
            await asyncio.sleep((needed - self.level) / self.rate)


class SharedPause:
    """A deadline no worker sends before: the server's limits are the account's, not one worker's.

    `rate_limit_pauses` counts the holds that came from x-ratelimit headers (reported in metrics).
    """

    def __init__(self) -> None:
        self.until = 0.0  # time.monotonic() deadline
        self.rate_limit_pauses = 0

    def extend(self, seconds: float) -> None:
        """Hold every worker for at least `seconds` from now (an earlier deadline is never shortened)."""
        self.until = max(self.until, time.monotonic() + seconds)

    def hold_for_window(self, headers: Any, next_tokens: int) -> None:
        """Hold every worker while the x-ratelimit headers say the window is spent (see rate_limit_pause)."""
        pause = rate_limit_pause(headers, next_tokens)
        if pause is not None:
            self.extend(min(pause, MAX_RATE_LIMIT_PAUSE_S) + RESET_MARGIN_S)
            self.rate_limit_pauses += 1

    async def wait(self) -> None:
        """Return once the deadline has passed (another worker may extend it meanwhile)."""
        while (pause := self.until - time.monotonic()) > 0:
            await asyncio.sleep(pause)


class RequestLimits:
    """Everything a request waits for before it is sent: the shared pause, then rpm and tpm."""

    def __init__(self, rpm_limit: int | None, tpm_limit: int | None) -> None:
        self.pause = SharedPause()
        self.rpm = RateLimiter(rpm_limit)
        self.tpm = RateLimiter(tpm_limit)

    async def wait(self, tokens: int) -> None:
        """Wait for the pause, one request of the rpm bucket and `tokens` of the tpm bucket."""
        await self.pause.wait()
        await self.rpm.acquire(1)
        await self.tpm.acquire(tokens)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds the server asks us to wait: retry-after-ms, retry-after (seconds or HTTP date); None if neither."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        seconds = None if value is None else _header_seconds(value, divisor, http_date=name == "retry-after")
        if seconds is not None:
            return max(0.0, seconds)
    return None


def _header_seconds(value: str, divisor: float, http_date: bool) -> float | None:
    try:
        seconds = float(value) / divisor
    except ValueError:
        if not http_date:
            return None
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (parsed - datetime.now(parsed.tzinfo)).total_seconds()
    return seconds if math.isfinite(seconds) else None


def parse_reset(value: str | None) -> float | None:
    """Seconds until a rate-limit window resets, from an `x-ratelimit-reset-*` header: OpenAI's
    durations ('20ms', '1s', '6m0s', '1h2m3.5s'), or a bare number of seconds or Unix time (seconds
    or milliseconds), as some OpenAI-compatible servers send. None when absent or unreadable."""
    text = (value or "").strip().lower()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(amount + unit for amount, unit in parts) != text:
            return None
        return sum(float(amount) * _DURATION_UNIT_S[unit] for amount, unit in parts)
    if not math.isfinite(number):
        return None
    if number >= UNIX_MILLISECONDS_AFTER:
        number /= 1000
    return max(0.0, number - time.time() if number >= UNIX_TIME_AFTER else number)


def rate_limit_pause(headers: Any, next_tokens: int) -> float | None:
    """How long to hold new requests, from `x-ratelimit-*` response headers: until the requests
    window resets when no request is left in it, until the tokens window resets when fewer tokens
    are left than a request like this one counts. None when neither applies or no header says."""
    if headers is None:
        return None
    pauses = []
    remaining_requests = _header_number(headers, "x-ratelimit-remaining-requests")
    if remaining_requests is not None and remaining_requests <= 0:
        pauses.append(parse_reset(headers.get("x-ratelimit-reset-requests")))
    remaining_tokens = _header_number(headers, "x-ratelimit-remaining-tokens")
    if remaining_tokens is not None and remaining_tokens < next_tokens:
        pauses.append(parse_reset(headers.get("x-ratelimit-reset-tokens")))
    known = [pause for pause in pauses if pause is not None]
    return max(known) if known else None


def _header_number(headers: Any, name: str) -> float | None:
    try:
        return float(headers.get(name))
    except (TypeError, ValueError):
        return None


def retry_delay(attempt: int, base_s: float, max_s: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds before attempt `attempt` + 1: the server's retry-after as given (capped at max_s, plus
    up to 10% jitter) when it sent one, else exponential backoff (base_s * 2^(attempt-1), at most
    max_s) with jitter.

    A retry-after is the server's own figure for when the request will be accepted: waiting longer
    (say, the backoff's 0.5-1 s for a retry-after of 0.2 s) only idles the workers. The jitter keeps
    half the backoff as a floor and spreads the rest, so workers that failed together do not come
    back together.
    """
    if retry_after is not None:
        return min(max_s, retry_after) * (1 + RETRY_AFTER_JITTER * rng.random())
    backoff = min(max_s, base_s * 2 ** (attempt - 1))
    return backoff * (0.5 + 0.5 * rng.random())
