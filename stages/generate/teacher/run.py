"""The `openai` generate backend: seeds -> teacher requests -> cached responses -> rows and pairs.

`generate_with_teacher` takes the trial's seeds (params `trial_seeds` / `trial_share`), plans the
requests (plan, prompts, policy), sends only those the cache lacks, directly (direct.TeacherRunner)
or through the Batch API (batch.BatchRunner, params `batch`), and builds the outputs from the plan
and the cache alone (outputs, metrics), so the same params and cache give byte-identical files
whatever order answers arrived in, and a fully cached run sends nothing (and needs no API key).

When a server reports a context size during the run (its "maximum context length" error), the
requests are planned once more with it, so the prompts that did not fit are shrunk and sent.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from stages.core.domain import DEFAULT_DOMAIN_FILE, load_domain
from stages.core.errors import UserError
from stages.core.files import read_text
from stages.generate.params import GenerateParams, ModelPrice, OpenAIParams
from stages.generate.teacher.cache import ResponseCache
from stages.generate.teacher.formats import EndpointFacts
from stages.generate.teacher.limits import Budget
from stages.generate.teacher.metrics import append_run_log, run_figures, teacher_metrics
from stages.generate.teacher.outputs import TeacherRows, build_rows
from stages.generate.teacher.plan import TeacherRequest, plan_requests
from stages.generate.teacher.policy import PolicyIndex
from stages.generate.teacher.progress import Progress, RunReport, farewell
from stages.generate.teacher.prompts import load_templates
from stages.generate.teacher.setup import TeacherSetup
from stages.generate.teacher.transport import ClientFactory, default_client, resolve_endpoint

PLAN_ROUNDS = 2  # a second round only when a server reported a context size in the first


@dataclass(frozen=True)
class TeacherPaths:
    """Where the backend reads and writes: prompt templates (prompts/<template>.md), the policy the
    prompts quote, the response cache directory, params.yaml (named in error messages), the run log
    (untracked JSON Lines; None: none), and the domain file whose values fill the templates' domain
    placeholders (core.domain)."""

    prompts: Path
    policy: Path
    cache: Path
    params: Path
    run_log: Path | None = None
    domain: Path = DEFAULT_DOMAIN_FILE


@dataclass
class TeacherResult:
    """The backend's outputs (see outputs.TeacherRows), its `teacher` metrics (the data), `run`
    (what this run did: the run log's figures), and `stop_message` (set when the budget stopped the
    run early: the stage writes the outputs, then fails with it)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    stop_message: str | None = None


def trial_seeds(seeds: list[dict[str, Any]], settings: OpenAIParams) -> list[dict[str, Any]]:
    """The seeds a trial run uses: the first `trial_seeds` (or the first `trial_share` of them,
    rounded up) taken one intent at a time in file order, so even a few seeds cover several
    intents; all seeds when neither is set. A larger trial keeps a smaller one's seeds."""
    if settings.trial_seeds is None and settings.trial_share is None:
        return seeds
    by_intent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for seed in seeds:
        by_intent[seed["intent"]].append(seed)
    order = [group[i] for i in range(max(map(len, by_intent.values()), default=0)) for group in by_intent.values()
             if i < len(group)]  # fmt: skip
    count = settings.trial_seeds or math.ceil((settings.trial_share or 0) * len(seeds))
    chosen = {id(seed) for seed in order[:count]}
    return [seed for seed in seeds if id(seed) in chosen]  # back in file order


def endpoint_prices(settings: OpenAIParams, endpoint: str, params_path: Path) -> dict[str, ModelPrice]:
    """Price per model at `endpoint`; a UserError names the missing price (a remote endpoint with
    no price, or no batch price when `batch` is on)."""
    prices: dict[str, ModelPrice] = {}
    for generator in [*settings.generators, *settings.pair_generators]:
        price = settings.price(endpoint, generator.model)
        if price is None:
            raise UserError(
                f"{params_path}: generate.openai.prices: no price for model '{generator.model}' at {endpoint};"
                f" add it under prices: {{'{endpoint}': {{'{generator.model}': ...}}}} (0 for a free server)"
            )
        if settings.batch and price.batch_input_per_1m is None:
            raise UserError(
                f"{params_path}: generate.openai.prices: '{endpoint}' gives no batch_input_per_1m/batch_output_per_1m"
                f" for '{generator.model}', and generate.openai.batch is on"
            )
        prices[generator.model] = price
    return prices


def _policy_text(path: Path) -> str:
    """The policy's text exactly as stored (the prompts quote it, so the request keys of a cache hold it);
    a file that is not UTF-8 is refused by the shared reader, naming its line and the encoding it looks like."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        read_text(path, "policy file")  # raises the located UserError
        raise


def generate_with_teacher(
    seeds: list[dict[str, Any]],
    params: GenerateParams,
    paths: TeacherPaths,
    progress_stream: IO[str] | None = None,
    client_factory: ClientFactory = default_client,
) -> TeacherResult:
    """Variations (and preference pairs for seeds with meta `pair: true`) of `seeds` from teacher models.

    `params.openai` picks the generators, limits and budget; `progress_stream` gets the progress
    bar (default stderr); `client_factory` makes the SDK client. Raises UserError for a missing
    policy or template, a missing key or price, or a broken endpoint; a request that fails for
    good becomes a rejected row, and a spent budget sets `stop_message` instead of raising.
    """
    settings = params.openai
    seeds = trial_seeds(seeds, settings)
    templates = load_templates(settings, paths.prompts, paths.params, load_domain(paths.domain).prompt_values())
    if not paths.policy.exists():
        raise UserError(f"{paths.policy}: policy document not found (the teacher's prompts quote it)")
    policy = PolicyIndex(_policy_text(paths.policy))
    endpoint = settings.endpoint_url()
    prices = endpoint_prices(settings, endpoint, paths.params)
    report, budget = RunReport(stats={}), Budget(settings.max_cost_usd)
    with ResponseCache(paths.cache) as cache:
        facts = EndpointFacts(paths.cache, endpoint)
        cached_at_start = set(cache.entries)
        requests: list[TeacherRequest] = []
        try:
            for _ in range(PLAN_ROUNDS):
                variations, pairs = plan_requests(seeds, params, templates, policy, endpoint, facts)
                requests = list({r.key: r for r in [*variations, *(c for pair in pairs for c in pair)]}.values())
                learned = facts.contexts_learned
                _send(requests, cache, (settings, facts, prices, budget), report, progress_stream, client_factory)
                if facts.contexts_learned == learned or report.stopped_by_budget:
                    break
        finally:
            facts.save()
            report.extra["format_fallbacks"] = facts.fallbacks
            report.extra["contexts_learned"] = facts.contexts_learned
            _farewell(requests, cache, report, progress_stream)
        entries = {r.key: cache.get(r.key) for r in requests}
    built = build_rows(variations, pairs, entries, report.stats, params.provenance_hash("openai"))
    report.extra["cached_keys"] = {r.key for r in requests} & cached_at_start
    return _result(built, requests, entries, prices, report, settings, paths, endpoint)


def _result(
    built: TeacherRows,
    requests: list[TeacherRequest],
    entries: dict[str, Any],
    prices: dict[str, ModelPrice],
    report: RunReport,
    settings: OpenAIParams,
    paths: TeacherPaths,
    endpoint: str,
) -> TeacherResult:
    cached_keys = report.extra.pop("cached_keys")
    candidates = [c for pair in built.pairs for c in pair["candidates"]]
    repaired = sum(bool(row["provenance"].get("json_repaired")) for row in [*built.rows, *built.rejected, *candidates])
    result = TeacherResult(built.rows, built.rejected, built.pairs)
    result.metrics = teacher_metrics(requests, entries, prices, repaired)
    result.run = run_figures(requests, cached_keys, report)
    append_run_log(paths.run_log, endpoint, result.run)
    if report.stopped_by_budget:
        result.stop_message = (
            f"budget reached: generate.openai.max_cost_usd={settings.max_cost_usd} would be exceeded by the next"
            f" request (spent ${report.spent_usd:.4f} this run); {result.metrics['teacher']['missing']} of"
            f" {len(requests)} requests are missing. Finished responses are cached: raise the budget (or rerun,"
            " cached answers cost nothing) to continue"
        )
    return result


def _send(
    requests: list[TeacherRequest],
    cache: ResponseCache,
    context: tuple[OpenAIParams, EndpointFacts, dict[str, ModelPrice], Budget],
    report: RunReport,
    progress_stream: IO[str] | None,
    client_factory: ClientFactory,
) -> None:
    """Send the requests that are neither cached, unfit, nor given up earlier in this run, adding to
    `report`; nothing (and no key needed) when there are none. On any exit with requests still
    missing, say that finished answers are kept and a rerun resumes."""
    settings, facts, prices, budget = context
    given_up = {key for key, stats in report.stats.items() if stats.failure}
    pending = [r for r in requests if r.unfit is None and r.key not in given_up and cache.get(r.key) is None]
    if not pending:
        return
    endpoint = resolve_endpoint(settings)
    cache.redact = endpoint.redact
    progress = Progress(total=len(requests), cached=len(requests) - len(pending), stream=progress_stream)
    log = progress_stream if progress_stream is not None else sys.stderr
    setup = TeacherSetup(settings, endpoint, cache, progress, facts, prices, budget, client_factory, log)
    try:
        if settings.batch:
            from stages.generate.teacher.batch import BatchRunner  # only batch runs need it

            BatchRunner(setup).run(pending, report)
        else:
            from stages.generate.teacher.direct import TeacherRunner

            TeacherRunner(setup).run(pending, report)
    finally:
        progress.close()


def _farewell(requests: list[TeacherRequest], cache: ResponseCache, report: RunReport, stream: IO[str] | None) -> None:
    """On any exit of a run that sent something while requests are still missing: what is kept, and
    that a rerun resumes."""
    missing = sum(1 for r in requests if r.unfit is None and cache.get(r.key) is None)
    if missing and report.stats:
        print(farewell(len(cache), missing, str(cache.directory)), file=stream or sys.stderr, flush=True)
