"""The `openai` generate backend: seeds -> teacher requests -> cached responses -> rows and pairs.

Output is built only from the request plan and the response cache, in seed order, so the same
params and cache give byte-identical files whatever order responses arrived in, and a fully cached
run sends nothing (and needs no API key). Every planned row ends up somewhere: a row, a pair
candidate, or a rejected row with a reason (and the raw answer when there was one).

Modules: teacher_prompts (template files), teacher_plan (which requests, their keys),
teacher_cache (append-only shards), teacher_client (sending), teacher_answers (parsing).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from stages.core.errors import UserError
from stages.core.hashing import sha256_hex
from stages.core.rows import row_id, user_text
from stages.core.text import match_key
from stages.generate.params import GenerateParams
from stages.generate.teacher.answers import parse_answer, response_problem
from stages.generate.teacher.cache import ResponseCache
from stages.generate.teacher.plan import TeacherRequest, plan_requests
from stages.generate.teacher.prompts import load_templates, prompt_turns
from stages.generate.teacher.transport import (
    ClientFactory,
    Progress,
    RequestStats,
    RunReport,
    TeacherRunner,
    default_client,
    request_cost,
    resolve_endpoint,
)

GENERATOR_NAME = "openai"
GENERATOR_VERSION = "1.0.0"  # bump when prompting or parsing changes what a response becomes
PAIR_ID_CHARS = 20
USD_DIGITS = 6
# The params that decide what the rows say; operational knobs (limits, retries, budget, endpoint,
# prices) are left out so that tuning them does not change every row's provenance.
CONTENT_PARAMS = ("generators", "pair_generators", "response_format", "max_tokens", "token_limit_field")


@dataclass(frozen=True)
class TeacherPaths:
    prompts: Path
    policy: Path
    cache: Path
    params: Path


@dataclass
class TeacherResult:
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
    settings = params.openai
    templates = load_templates(settings, paths.prompts, paths.params)
    if not paths.policy.exists():
        raise UserError(f"{paths.policy}: policy document not found (the teacher's prompts quote it)")
    policy = paths.policy.read_text(encoding="utf-8").strip()
    variations, pairs = plan_requests(seeds, params, templates, policy)
    requests = list({r.key: r for r in [*variations, *(c for pair in pairs for c in pair)]}.values())

    with ResponseCache(paths.cache) as cache:
        cached_keys = {r.key for r in requests if cache.get(r.key) is not None}
        pending = [r for r in requests if r.key not in cached_keys]
        report = RunReport(stats={})
        if pending:  # a fully cached run needs neither the endpoint nor the key
            endpoint = resolve_endpoint(settings)
            cache.redact = endpoint.redact
            progress = Progress(total=len(requests), cached=len(cached_keys), stream=progress_stream)
            report = TeacherRunner(settings, endpoint, cache, progress, client_factory).run(pending)
        entries = {r.key: cache.get(r.key) for r in requests}

    params_hash = teacher_params_hash(params)
    result = TeacherResult()
    for request in variations:
        row, reason = variation_row(request, entries[request.key], params_hash, report.stats.get(request.key))
        if reason is None:
            result.rows.append(row)
        else:
            result.rejected.append(row)
    for first, second in pairs:
        pair, rejected = pair_record(first, second, entries, params_hash, report.stats)
        if pair is not None:
            result.pairs.append(pair)
        result.rejected.extend(rejected)
    result.metrics = teacher_metrics(requests, cached_keys, entries, report, params)
    if report.stopped_by_budget:
        result.stop_message = (
            f"budget reached: generate.openai.max_cost_usd={settings.max_cost_usd} would be exceeded by the next"
            f" request (spent ${report.spent_usd:.4f} this run); {result.metrics['teacher']['missing']} of"
            f" {len(requests)} requests are missing. Finished responses are cached: raise the budget (or rerun,"
            " cached answers cost nothing) to continue"
        )
    return result


def teacher_params_hash(params: GenerateParams) -> str:
    content = {
        "backend": params.backend,
        "seed": params.seed,
        "variations_per_seed": params.variations_per_seed,
        **params.openai.model_dump(mode="json", include=set(CONTENT_PARAMS)),
    }
    return sha256_hex(content)[:16]


def provenance(request: TeacherRequest, entry: dict[str, Any] | None, params_hash: str) -> dict[str, Any]:
    response = entry["response"] if entry else {}
    return {
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "model": request.generator.model,
        "model_version": response.get("model"),  # the name the server reported
        "template_id": request.template.template_id,
        "template_hash": request.template.content_hash,
        "temperature": request.generator.temperature,
        "sampling_seed": request.sampling_seed,
        "seed_ids": [request.seed["id"]],
        "params_hash": params_hash,
        "request_key": request.key,
        "system_fingerprint": response.get("system_fingerprint"),
        "created_at": created_at(entry),
    }


def created_at(entry: dict[str, Any] | None) -> str | None:
    """When the server made the answer (its `created`), else when it arrived; stored in the cache,
    so reruns reproduce it."""
    if entry is None:
        return None
    created = entry["response"].get("created")
    if isinstance(created, int | float) and created > 0:
        return _iso_time(created)
    return entry.get("received_at")


@functools.lru_cache(maxsize=4096)
def _iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def missing_reason(stats: RequestStats | None) -> str:
    if stats is not None and stats.failure:
        return stats.failure
    return "budget_exhausted: not requested, the run stopped at generate.openai.max_cost_usd"


def answer_turns(
    request: TeacherRequest, entry: dict[str, Any] | None, stats: RequestStats | None
) -> tuple[list[dict[str, str]] | None, str | None, str | None]:
    """(turns, reason, raw text) of one request's answer; reason is None when the turns are usable."""
    if entry is None:
        return None, missing_reason(stats), None
    response = entry["response"]
    raw = response.get("content")
    problem = response_problem(response)
    if problem:
        return None, problem, raw
    turns, reason = parse_answer(raw, request.kind)
    return turns, reason, raw


def _row(request: TeacherRequest, messages: list[dict[str, str]], origin: str, meta: dict[str, Any],
         prov: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    seed = request.seed
    row: dict[str, Any] = {
        "messages": messages,
        "intent": seed["intent"],
        "slice": seed["slice"],
        "source": "synthetic",
        "origin": origin,
        "case_id": seed["case_id"],
        "seed_id": seed["id"],
        "provenance": prov,
        "meta": {"policy_refs": seed["meta"].get("policy_refs", []), **meta},
    }
    row["id"] = row_id(row)
    return row


def _rejected(row: dict[str, Any], reason: str, raw: str | None) -> dict[str, Any]:
    rejected = {**row, "reasons": [reason]}
    if raw is not None:
        rejected["raw"] = raw
    return rejected


def variation_row(
    request: TeacherRequest, entry: dict[str, Any] | None, params_hash: str, stats: RequestStats | None
) -> tuple[dict[str, Any], str | None]:
    """(row, None) for a usable variation, else (rejected row with its reason, reason)."""
    turns, reason, raw = answer_turns(request, entry, stats)
    row = _row(request, turns or [], "variation", {"variation": request.slot}, provenance(request, entry, params_hash))
    if reason is None and match_key(user_text(row)) == _seed_match_key(user_text(request.seed)):
        reason = "no_change"
    if reason is not None:
        return _rejected(row, reason, raw), reason
    return row, None


@functools.lru_cache(maxsize=4096)
def _seed_match_key(text: str) -> str:
    return match_key(text)  # a seed's text is compared with each of its variations: normalise it once


def pair_record(
    first: TeacherRequest,
    second: TeacherRequest,
    entries: dict[str, dict[str, Any] | None],
    params_hash: str,
    stats: dict[str, RequestStats],
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A preference pair (prompt + two candidate rows) or, if either candidate failed, the rejections."""
    seed = first.seed
    prompt = prompt_turns(seed)
    pair_id = sha256_hex([seed["id"], first.key, second.key])[:PAIR_ID_CHARS]
    candidates, reasons, raws = [], [], []
    for rank, request in enumerate((first, second)):
        entry = entries[request.key]
        turns, reason, raw = answer_turns(request, entry, stats.get(request.key))
        meta = {"pair_id": pair_id, "candidate": rank}
        messages = [*prompt, *turns] if turns else []
        candidates.append(_row(request, messages, "pair_candidate", meta, provenance(request, entry, params_hash)))
        reasons.append(reason)
        raws.append(raw)
    if all(reason is None for reason in reasons):
        record = {
            "id": pair_id,
            "seed_id": seed["id"],
            "case_id": seed["case_id"],
            "intent": seed["intent"],
            "slice": seed["slice"],
            "prompt": prompt,
            "candidates": candidates,
        }
        return record, []
    rejected = []
    for rank, (candidate, reason, raw) in enumerate(zip(candidates, reasons, raws, strict=True)):
        other = reasons[1 - rank]
        why = reason or f"pair_incomplete: the other candidate was rejected ({(other or '').split(':')[0]})"
        rejected.append(_rejected(candidate, why, raw))
    return None, rejected


COUNTS = ("requests", "cache_hits", "requests_sent", "retries", "failures", "missing")
TOKENS = ("prompt_tokens", "completion_tokens")


def teacher_metrics(
    requests: list[TeacherRequest],
    cached_keys: set[str],
    entries: dict[str, dict[str, Any] | None],
    report: RunReport,
    params: GenerateParams,
) -> dict[str, Any]:
    """Requests, cache hits, retries, failures, tokens and cost: overall, per model, per template.

    Tokens and `cost_usd` are this run's (what was sent); `dataset_cost_usd` prices every answer
    behind the outputs, cached or not, at today's price table.
    """
    prices = params.openai.prices
    names = (*COUNTS, *TOKENS, "cost_usd", "dataset_cost_usd")
    total = dict.fromkeys(names, 0.0)
    by_model: dict[str, dict[str, float]] = {}
    by_template: dict[str, dict[str, float]] = {}
    for request in requests:
        stats = report.stats.get(request.key) or RequestStats()
        entry = entries[request.key]
        usage = entry["response"].get("usage") if entry is not None else None
        values = (
            1, request.key in cached_keys, stats.sent, stats.retries, stats.failure is not None, entry is None,
            stats.prompt_tokens, stats.completion_tokens, stats.charged_usd,
            request_cost(usage, prices[request.generator.model]) or 0.0,
        )  # fmt: skip
        model = by_model.setdefault(request.generator.model, dict.fromkeys(names, 0.0))
        template = by_template.setdefault(request.template.template_id, dict.fromkeys(names, 0.0))
        for tally in (total, model, template):
            for name, value in zip(names, values, strict=True):
                tally[name] += value

    def rounded(tally: dict[str, float]) -> dict[str, Any]:
        return {
            name: round(value, USD_DIGITS) if name.endswith("_usd") else int(value) for name, value in tally.items()
        }

    return {
        "teacher": {
            **rounded(total),
            "stopped_by_budget": report.stopped_by_budget,
            "rate_limit_pauses": report.rate_limit_pauses,
            "by_model": {name: rounded(by_model[name]) for name in sorted(by_model)},
            "by_template": {name: rounded(by_template[name]) for name in sorted(by_template)},
        }
    }


def print_summary(result: TeacherResult, stream: IO[str] | None = None) -> None:
    teacher = result.metrics["teacher"]
    print(
        f"teacher: {teacher['requests']} requests: {teacher['cache_hits']} cached, {teacher['requests_sent']} sent,"
        f" {teacher['retries']} retries, {teacher['failures']} failed; ${teacher['cost_usd']:.4f} this run",
        file=stream if stream is not None else sys.stderr,
    )
    if teacher["failures"]:
        print(
            f"teacher: {teacher['failures']} requests failed after retries (not cached, rows rejected with the"
            " reason); rerun `dvc repro -f -s generate` to retry only those",
            file=stream if stream is not None else sys.stderr,
        )
