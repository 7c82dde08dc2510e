"""The direct path: each request sent on its own (chat completions), by asyncio workers.

`TeacherRunner` runs `concurrency` workers over one shared queue. Before each attempt a worker
takes a place under the adaptive concurrency limit (pacing.AdaptiveConcurrency), reserves the
attempt's worst case in the budget (limits.Budget), waits for the shared pause, the server's
announced allowance (pacing.RequestAllowance) and the rate limiters, and sends the request with
the structured-output mode its endpoint and model have reached (formats.EndpointFacts). The answer
is stored in the cache the moment it arrives; a failure is classified (transport.ErrorPolicy):
a refused response format steps the mode down and resends at once, a context overflow is
recorded (the next planning round shrinks the prompt), others are retried with backoff (a
retry-after as given), given up as a rejected row, or end the run when the endpoint is broken.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Iterator
from typing import Any

import openai

from stages.generate.teacher.cache import cache_entry
from stages.generate.teacher.formats import context_limit, error_text, refuses_format
from stages.generate.teacher.limits import BudgetStop, RequestLimits, request_cost, retry_delay, token_cost
from stages.generate.teacher.pacing import AdaptiveConcurrency, RequestAllowance
from stages.generate.teacher.plan import TeacherRequest
from stages.generate.teacher.progress import RequestStats, RunReport
from stages.generate.teacher.setup import TeacherSetup
from stages.generate.teacher.transport import (
    EndpointHealth,
    ErrorPolicy,
    GiveUp,
    maybe_billed,
    normalize_completion,
    post_completion,
)

# Workers start a few ms apart: answers then come back spread out, not in one burst that the
# event loop (about 1 ms of SDK and HTTP work per answer) would have to work through in a queue.
RAMP_UP_S = 0.002


class TeacherRunner:
    """Sends requests with up to `settings.concurrency` workers, within the budget and rate limits, with retries.

    `setup` (setup.TeacherSetup) gives the settings, endpoint, cache, progress bar (it also gets the
    first failure's reason in full), endpoint facts, prices, budget and client factory. Its own
    collaborators: RequestLimits (limits), RequestAllowance and AdaptiveConcurrency (pacing),
    ErrorPolicy and EndpointHealth (transport), RunReport (progress). `rng` draws the backoff jitter.
    """

    def __init__(self, setup: TeacherSetup, rng: random.Random | None = None) -> None:
        self.setup = setup
        self.rng = rng or random.Random()
        settings = setup.settings
        self.limits = RequestLimits(settings.rpm_limit, settings.tpm_limit)
        self.allowance = RequestAllowance()
        self.concurrency = AdaptiveConcurrency(settings.concurrency)
        self.errors = ErrorPolicy(setup.endpoint, settings)
        self.health = EndpointHealth(setup.endpoint)
        self.report = RunReport(stats={})

    def run(self, requests: list[TeacherRequest], report: RunReport) -> RunReport:
        """Send every request (until the budget stops the run), adding to `report`; raises
        EndpointError for a broken endpoint."""
        self.report = report
        asyncio.run(self._run(requests))
        report.spent_usd = self.setup.budget.spent
        report.rate_limit_pauses += self.limits.pause.rate_limit_pauses + self.allowance.waits
        extra = report.extra
        extra["concurrency_lowest"] = min(extra.get("concurrency_lowest", 1e9), int(self.concurrency.lowest))
        extra["concurrency_decreases"] = extra.get("concurrency_decreases", 0) + self.concurrency.decreases
        return report

    async def _run(self, requests: list[TeacherRequest]) -> None:
        pending: Iterator[TeacherRequest] = iter(requests)
        client = self.setup.client_factory(self.setup.endpoint)
        self.setup.progress.concurrency = self.concurrency.limit
        ticker = asyncio.create_task(self.setup.progress.ticker())
        workers = [
            asyncio.create_task(self._worker(client, pending, start_after=index * RAMP_UP_S))
            for index in range(min(self.setup.settings.concurrency, len(requests)))
        ]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in [*workers, ticker]:
                task.cancel()
            await asyncio.gather(*workers, ticker, return_exceptions=True)
            await client.close()
            self.setup.progress.update(force=True)

    async def _worker(self, client: openai.AsyncOpenAI, pending: Iterator[TeacherRequest], start_after: float) -> None:
        await asyncio.sleep(start_after)
        for request in pending:  # a shared iterator: each request goes to exactly one worker
            if self.report.stopped_by_budget:
                return
            if self._over_context(request):
                continue  # planned before the server reported its context: the next planning round shrinks it
            stats = self.report.stats.setdefault(request.key, RequestStats())
            try:
                await self._send(client, request, stats)
            except BudgetStop:
                self.report.stopped_by_budget = True
                return
            except GiveUp as give_up:
                stats.failure = self.setup.endpoint.redact(give_up.reason)
                self.setup.progress.failed += 1
                if not stats.failure.startswith("context_exceeded"):  # the server answered: it works
                    self.health.failure(stats.failure)  # raises once the endpoint looks broken
            self.setup.progress.concurrency = self.concurrency.limit
            self.setup.progress.update()

    def _over_context(self, request: TeacherRequest) -> bool:
        """Whether a context size reported during this run shows that `request` cannot fit."""
        context = None if request.generator.context_tokens else self.setup.facts.context(request.generator.model)
        return context is not None and request.prompt_tokens + request.max_completion_tokens > context

    async def _send(self, client: openai.AsyncOpenAI, request: TeacherRequest, stats: RequestStats) -> None:
        """Attempt `request` until it is answered (and cached); raises GiveUp, BudgetStop or EndpointError."""
        model = request.generator.model
        price = self.setup.prices[model]
        worst_case = token_cost(request.max_prompt_tokens, request.max_completion_tokens, price)
        attempt = 0
        for _ in itertools.count():
            mode = self.setup.facts.mode(model, self.setup.settings.response_format)
            if not self.setup.budget.try_reserve(worst_case):
                raise BudgetStop
            await self.concurrency.acquire()
            ticket = -1
            try:
                await self.limits.wait(request.approx_tokens)
                ticket = await self.allowance.take()
                stats.sent = True
                started = time.monotonic()
                answer, headers = await post_completion(client, request.body_for(mode), self.setup.settings.timeout_s)
                response = normalize_completion(answer)
            except Exception as err:
                self.concurrency.release()
                self._observe_error(err, ticket)
                # A timeout or a connection lost after sending may still be billed: count the worst case.
                self._charge(stats, worst_case, worst_case if maybe_billed(err) else 0.0)
                if refuses_format(err) and self.setup.facts.step_down(model, mode) is not None:
                    continue  # the server named the format: the next mode at once, not a retry
                attempt += 1
                await self._back_off(err, request, attempt, stats)
                continue
            self.concurrency.release()
            self.concurrency.succeeded(time.monotonic() - started)
            self.allowance.observe(headers, ticket)
            cost = request_cost(response["usage"], price)
            self._charge(stats, worst_case, worst_case if cost is None else cost)
            self._store(request, stats, response, headers, mode)
            return

    def _observe_error(self, err: Exception, ticket: int) -> None:
        headers = getattr(getattr(err, "response", None), "headers", None)
        if isinstance(err, openai.RateLimitError | openai.APITimeoutError):
            self.concurrency.throttled()  # a 429, or a server too slow for the requests in flight
        if ticket >= 0 and headers is not None:
            self.allowance.observe(headers, ticket)
        elif ticket >= 0:
            self.allowance.forget(ticket)
        if self.report.first_failure is None:
            # In full (the key redacted), once: a user whose every request fails sees why.
            detail = error_text(err) if isinstance(err, openai.APIStatusError) else self.errors.describe(err)
            status = f"HTTP {err.status_code}: " if isinstance(err, openai.APIStatusError) else ""
            self.report.first_failure = self.setup.endpoint.redact(f"{status}{detail}")
            self.setup.progress.note(f"teacher: first failed request: {self.report.first_failure}")

    def _charge(self, stats: RequestStats, reserved: float, charged: float) -> None:
        self.setup.budget.settle(reserved, charged)
        stats.charged_usd += charged
        self.setup.progress.cost += charged

    async def _back_off(self, err: Exception, request: TeacherRequest, attempt: int, stats: RequestStats) -> None:
        """Raise for an error not worth retrying, or after the last attempt; else wait before the next one."""
        if isinstance(err, openai.BadRequestError):
            limit = context_limit(error_text(err))
            if limit is not None:
                self.setup.facts.learn_context(request.generator.model, limit)
                raise GiveUp(f"context_exceeded: {self.errors.describe(err)}") from None
        retry = self.errors.classify(err, request.generator.model, attempt, self.health.succeeded > 0)
        if retry.window_headers is not None:
            self.limits.pause.hold_for_window(retry.window_headers, request.approx_tokens)
        if attempt > self.setup.settings.max_retries:
            raise GiveUp(f"request_failed: {self.errors.describe(err)} after {attempt} attempts") from None
        stats.retries += 1
        self.setup.progress.retries += 1
        settings = self.setup.settings
        delay = retry_delay(attempt, settings.backoff_base_s, settings.backoff_max_s, retry.retry_after, self.rng)
        if retry.retry_after is not None:  # the limit is the account's: every worker waits, as long as it says
            self.limits.pause.extend(min(retry.retry_after, settings.backoff_max_s))
        await asyncio.sleep(delay)

    def _store(
        self, request: TeacherRequest, stats: RequestStats, response: dict[str, Any], headers: Any, mode: str
    ) -> None:
        if response["usage"]:
            self.setup.progress.tokens += stats.add_usage(response["usage"])
        self.setup.cache.append(cache_entry(request, response, self.setup.endpoint.base_url, mode))
        self.setup.facts.reached(request.generator.model, mode)
        self.limits.pause.hold_for_window(headers, request.approx_tokens)
        self.health.success()
        self.setup.progress.sent += 1
