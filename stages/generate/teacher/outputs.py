"""Cached teacher answers to rows: variation rows, preference pairs, and rejected rows with reasons.

Built only from the request plan and the response cache, in plan order, so the same params and
cache give byte-identical outputs whatever order the answers arrived in. Every planned request
ends up somewhere: a row, a pair candidate, or a rejected row with a reason (and the raw answer
when there was one).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stages.core.hashing import sha256_hex
from stages.core.rows import user_text
from stages.core.text import match_key
from stages.generate.rows import rejected_row, synthetic_row
from stages.generate.teacher.answers import Parsed, parse_answer, response_problem
from stages.generate.teacher.plan import TeacherRequest
from stages.generate.teacher.progress import RequestStats
from stages.generate.teacher.prompts import prompt_turns

GENERATOR_NAME = "openai"
# Bump when prompting or parsing changes what a response becomes (2: policy excerpts, json-repair).
GENERATOR_VERSION = "2.0.0"
PAIR_ID_CHARS = 20
Entry = dict[str, Any]  # one cache line (cache.cache_entry)
Row = dict[str, Any]


@dataclass
class TeacherRows:
    """The backend's outputs: usable variation rows, rejected rows (each with `reasons`), and
    preference pairs ({id, seed_id, case_id, intent, slice, prompt, candidates: [row, row]})."""

    rows: list[Row] = field(default_factory=list)
    rejected: list[Row] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)


def build_rows(
    variations: list[TeacherRequest],
    pairs: list[tuple[TeacherRequest, TeacherRequest]],
    entries: dict[str, Entry | None],
    stats: dict[str, RequestStats],
    params_hash: str,
) -> TeacherRows:
    """Rows, rejections and pairs of the planned requests, from their cache lines (`entries`, None
    for a request without an answer) and this run's per-request `stats` (why one failed)."""
    built = TeacherRows()
    for request in variations:
        row, reason = variation_row(request, entries[request.key], params_hash, stats.get(request.key))
        (built.rows if reason is None else built.rejected).append(row)
    for first, second in pairs:
        pair, rejected = pair_record(first, second, entries, params_hash, stats)
        if pair is not None:
            built.pairs.append(pair)
        built.rejected.extend(rejected)
    return built


def provenance(request: TeacherRequest, entry: Entry | None, params_hash: str) -> dict[str, Any]:
    """The row's provenance record (see README, the row schema); the server's fields are None without an answer."""
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
        "endpoint": entry.get("endpoint") if entry else None,
        "response_format": entry.get("response_format") if entry else None,
        "json_repaired": False,
        "batch_id": entry.get("batch_id") if entry else None,
    }


def created_at(entry: Entry | None) -> str | None:
    """When the server made the answer (its `created`), else when it arrived, as "YYYY-MM-DDTHH:MM:SSZ";
    both are stored in the cache, so reruns reproduce it."""
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
    """Why a request has no answer: its failure, else that the budget stopped the run before it."""
    if stats is not None and stats.failure:
        return stats.failure
    return "budget_exhausted: not requested, the run stopped at generate.openai.max_cost_usd"


def answer_turns(request: TeacherRequest, entry: Entry | None, stats: RequestStats | None) -> tuple[Parsed, str | None]:
    """(the parsed answer, its raw text); `Parsed.reason` is None when the turns are usable. A
    request planned as unfit (its prompt cannot fit the context) is rejected with that reason."""
    if request.unfit is not None:
        return Parsed(None, request.unfit), None
    if entry is None:
        return Parsed(None, missing_reason(stats)), None
    response = entry["response"]
    raw = response.get("content")
    problem = response_problem(response)
    if problem:
        return Parsed(None, problem), raw
    return parse_answer(raw, request.kind), raw


def variation_row(
    request: TeacherRequest, entry: Entry | None, params_hash: str, stats: RequestStats | None
) -> tuple[Row, str | None]:
    """(row, None) for a usable variation, else (rejected row with its reason, reason).

    A variation whose user turns match the seed's (stages.core.text.match_key) is rejected as no_change.
    """
    parsed, raw = answer_turns(request, entry, stats)
    turns, reason = parsed.turns, parsed.reason
    prov = {**provenance(request, entry, params_hash), "json_repaired": parsed.repaired}
    row = synthetic_row(request.seed, turns or [], prov, "variation", {"variation": request.slot})
    if reason is None and match_key(user_text(row)) == _seed_match_key(user_text(request.seed)):
        reason = "no_change"
    if reason is not None:
        return rejected_row(row, reason, raw), reason
    return row, None


@functools.lru_cache(maxsize=4096)
def _seed_match_key(text: str) -> str:
    return match_key(text)  # a seed's text is compared with each of its variations: normalise it once


def pair_record(
    first: TeacherRequest,
    second: TeacherRequest,
    entries: dict[str, Entry | None],
    params_hash: str,
    stats: dict[str, RequestStats],
) -> tuple[dict[str, Any] | None, list[Row]]:
    """A preference pair (prompt + two candidate rows) or, if either candidate failed, the rejections.

    A candidate whose partner failed is rejected as `pair_incomplete`, naming the partner's reason code.
    """
    seed = first.seed
    prompt = prompt_turns(seed)
    pair_id = sha256_hex([seed["id"], first.key, second.key])[:PAIR_ID_CHARS]
    candidates, reasons, raws = [], [], []
    for rank, request in enumerate((first, second)):
        entry = entries[request.key]
        parsed, raw = answer_turns(request, entry, stats.get(request.key))
        meta = {"pair_id": pair_id, "candidate": rank}
        messages = [*prompt, *parsed.turns] if parsed.turns else []
        prov = {**provenance(request, entry, params_hash), "json_repaired": parsed.repaired}
        candidates.append(synthetic_row(seed, messages, prov, "pair_candidate", meta))
        reasons.append(parsed.reason)
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
        rejected.append(rejected_row(candidate, why, raw))
    return None, rejected
