"""The `openai` generate backend: seeds -> teacher requests -> cached responses -> rows and pairs.

`generate_with_teacher` plans the requests (plan, prompts), sends only those the cache lacks
(`TeacherRunner`), and builds the outputs from the plan and the cache alone (outputs, metrics), so
the same params and cache give byte-identical files whatever order answers arrived in, and a fully
cached run sends nothing (and needs no API key).

`TeacherRunner` runs `concurrency` asyncio workers over one shared queue. Each attempt reserves its
worst case in the budget (limits.Budget), waits for the shared pause and the rate limiters
(limits.RequestLimits), is sent (transport), and is then either stored in the cache the moment it
arrives, or classified (transport.ErrorPolicy): retried with backoff, given up as a rejected row,
or the end of the run when the endpoint itself is broken.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import openai

from stages.core.domain import DEFAULT_DOMAIN_FILE, load_domain
from stages.core.errors import UserError
from stages.generate.params import GenerateParams, OpenAIParams
from stages.generate.teacher.cache import ResponseCache, cache_entry
from stages.generate.teacher.limits import Budget, BudgetStop, RequestLimits, request_cost, retry_delay, token_cost
from stages.generate.teacher.metrics import teacher_metrics
from stages.generate.teacher.outputs import build_rows
from stages.generate.teacher.plan import TeacherRequest, plan_requests
from stages.generate.teacher.progress import Progress, RequestStats, RunReport
from stages.generate.teacher.prompts import load_templates
from stages.generate.teacher.transport import (
    ClientFactory,
    Endpoint,
    EndpointHealth,
    ErrorPolicy,
    GiveUp,
    default_client,
    maybe_billed,
    normalize_completion,
    post_completion,
    resolve_endpoint,
)

# Workers start a few ms apart: answers then come back spread out, not in one burst that the
# event loop (about 1 ms of SDK and HTTP work per answer) would have to work through in a queue.
RAMP_UP_S = 0.002


@dataclass(frozen=True)
class TeacherPaths:
    """Where the backend reads and writes: prompt templates (prompts/<template>.md), the policy the
    prompts quote, the response cache directory, params.yaml (named in error messages) and the
    domain file whose values fill the templates' domain placeholders (core.domain)."""

    prompts: Path
    policy: Path
    cache: Path
    params: Path
    domain: Path = DEFAULT_DOMAIN_FILE


@dataclass
class TeacherResult:
    """The backend's outputs (see outputs.TeacherRows), its `teacher` metrics, and `stop_message`
    (set when the budget stopped the run early: the stage writes the outputs, then fails with it)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    stop_message: str | None = None  # set when the budget stopped the run early


def generate_with_teacher(
    seeds: list[dict[str, Any]],
    params: GenerateParams,
    paths: TeacherPaths,
    progress_stream: IO[str] | None = None,
    client_factory: ClientFactory = default_client,
) -> TeacherResult:
    """Variations (and preference pairs for seeds with meta `pair: true`) of `seeds` from teacher models.

    `params.openai` picks the generators, limits and budget; `progress_stream` gets the status line
    (default stderr); `client_factory` makes the SDK client. Raises UserError for a missing policy
    or template, a missing key, or a broken endpoint; a request that fails for good becomes a
    rejected row, and a spent budget sets `stop_message` instead of raising.
    """
    settings = params.openai
    templates = load_templates(settings, paths.prompts, paths.params, load_domain(paths.domain).prompt_values())
    if not paths.policy.exists():
        raise UserError(f"{paths.policy}: policy document not found (the teacher's prompts quote it)")
    policy = paths.policy.read_text(encoding="utf-8").strip()
    variations, pairs = plan_requests(seeds, params, templates, policy)
    requests = list({r.key: r for r in [*variations, *(c for pair in pairs for c in pair)]}.values())

    with ResponseCache(paths.cache) as cache:
        cached_keys = {r.key for r in requests if cache.get(r.key) is not None}
        report = send_missing(requests, cached_keys, cache, settings, progress_stream, client_factory)
        entries = {r.key: cache.get(r.key) for r in requests}

    built = build_rows(variations, pairs, entries, report.stats, params.provenance_hash("openai"))
    result = TeacherResult(built.rows, built.rejected, built.pairs)
    result.metrics = teacher_metrics(requests, cached_keys, entries, report, params)
    if report.stopped_by_budget:
        result.stop_message = (
            f"budget reached: generate.openai.max_cost_usd={settings.max_cost_usd} would be exceeded by the next"
            f" request (spent ${report.spent_usd:.4f} this run); {result.metrics['teacher']['missing']} of"
            f" {len(requests)} requests are missing. Finished responses are cached: raise the budget (or rerun,"
            " cached answers cost nothing) to continue"
        )
    return result


def send_missing(
    requests: list[TeacherRequest],
    cached_keys: set[str],
    cache: ResponseCache,
    settings: OpenAIParams,
    progress_stream: IO[str] | None,
    client_factory: ClientFactory,
) -> RunReport:
    """Send the requests whose key is not in `cached_keys`, storing answers in `cache`; an empty
    report when there are none (a fully cached run needs neither the endpoint nor the key)."""
    pending = [r for r in requests if r.key not in cached_keys]
    if not pending:
        return RunReport(stats={})
    endpoint = resolve_endpoint(settings)
    cache.redact = endpoint.redact
    progress = Progress(total=len(requests), cached=len(cached_keys), stream=progress_stream)
    return TeacherRunner(settings, endpoint, cache, progress, client_factory).run(pending)


class TeacherRunner:
    """Sends requests with `settings.concurrency` workers, within the budget and rate limits, with retries.

    Collaborators: Budget and RequestLimits (limits), ErrorPolicy and EndpointHealth (transport),
    ResponseCache (cache), Progress and RunReport (progress). `rng` draws the backoff jitter.
    """

    def __init__(
        self,
        settings: OpenAIParams,
        endpoint: Endpoint,
        cache: ResponseCache,
        progress: Progress,
        client_factory: ClientFactory = default_client,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.endpoint = endpoint
        self.cache = cache
        self.progress = progress
        self.client_factory = client_factory
        self.rng = rng or random.Random()
        self.budget = Budget(settings.max_cost_usd)
        self.limits = RequestLimits(settings.rpm_limit, settings.tpm_limit)
        self.errors = ErrorPolicy(endpoint, settings)
        self.health = EndpointHealth(endpoint)
        self.report = RunReport(stats={})

    def run(self, requests: list[TeacherRequest]) -> RunReport:
        """Send every request (until the budget stops the run); raises EndpointError for a broken endpoint."""
        asyncio.run(self._run(requests))
        self.report.spent_usd = self.budget.spent
        self.report.rate_limit_pauses = self.limits.pause.rate_limit_pauses
        return self.report

    async def _run(self, requests: list[TeacherRequest]) -> None:
        pending: Iterator[TeacherRequest] = iter(requests)
        client = self.client_factory(self.endpoint)
        workers = [
            asyncio.create_task(self._worker(client, pending, start_after=index * RAMP_UP_S))
            for index in range(min(self.settings.concurrency, len(requests)))
        ]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await client.close()
            self.progress.update(force=True)

    async def _worker(self, client: openai.AsyncOpenAI, pending: Iterator[TeacherRequest], start_after: float) -> None:
        await asyncio.sleep(start_after)
        for request in pending:  # a shared iterator: each request goes to exactly one worker
            if self.report.stopped_by_budget:
                return
            stats = self.report.stats.setdefault(request.key, RequestStats())
            try:
                await self._send(client, request, stats)
            except BudgetStop:
                self.report.stopped_by_budget = True
                return
            except GiveUp as give_up:
                stats.failure = self.endpoint.redact(give_up.reason)
                self.progress.failed += 1
                self.health.failure(stats.failure)  # raises once the endpoint looks broken
            self.progress.update()

    async def _send(self, client: openai.AsyncOpenAI, request: TeacherRequest, stats: RequestStats) -> None:
        """Attempt `request` until it is answered (and cached); raises GiveUp, BudgetStop or EndpointError."""
        price = self.settings.prices[request.generator.model]
        worst_case = token_cost(request.max_prompt_tokens, request.max_completion_tokens, price)
        for attempt in itertools.count(1):
            if not self.budget.try_reserve(worst_case):
                raise BudgetStop
            try:
                await self.limits.wait(request.approx_tokens)
                stats.sent = True
                answer, headers = await post_completion(client, request.body, self.settings.timeout_s)
                response = normalize_completion(answer)
            except Exception as err:
                # A timeout or a connection lost after sending may still be billed: count the worst case.
                self._charge(stats, worst_case, worst_case if maybe_billed(err) else 0.0)
                await self._back_off(err, request, attempt, stats)
                continue
            cost = request_cost(response["usage"], price)
            self._charge(stats, worst_case, worst_case if cost is None else cost)
            self._store(request, stats, response, headers)
            return

    def _charge(self, stats: RequestStats, reserved: float, charged: float) -> None:
        self.budget.settle(reserved, charged)
        stats.charged_usd += charged
        self.progress.cost += charged

    async def _back_off(self, err: Exception, request: TeacherRequest, attempt: int, stats: RequestStats) -> None:
        """Raise for an error not worth retrying, or after the last attempt; else wait before the next one."""
        retry = self.errors.classify(err, request.generator.model, attempt, self.health.succeeded > 0)
        if retry.window_headers is not None:
            self.limits.pause.hold_for_window(retry.window_headers, request.approx_tokens)
        if attempt > self.settings.max_retries:
            raise GiveUp(f"request_failed: {self.errors.describe(err)} after {attempt} attempts") from None
        stats.retries += 1
        self.progress.retries += 1
        settings = self.settings
        delay = retry_delay(attempt, settings.backoff_base_s, settings.backoff_max_s, retry.retry_after, self.rng)
        if retry.retry_after is not None:  # the limit is shared: every worker waits
            self.limits.pause.extend(delay)
        await asyncio.sleep(delay)

    def _store(self, request: TeacherRequest, stats: RequestStats, response: dict[str, Any], headers: Any) -> None:
        if response["usage"]:
            self.progress.tokens += stats.add_usage(response["usage"])
        self.cache.append(cache_entry(request, response))
        self.limits.pause.hold_for_window(headers, request.approx_tokens)
        self.health.success()
        self.progress.sent += 1
