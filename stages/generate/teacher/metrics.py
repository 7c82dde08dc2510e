"""The teacher backend's figures: `teacher` in metrics/generate.json (the data), and the run log (the run).

metrics/generate.json is tracked in git, so it describes the data set only: what was planned,
answered, missing, what the answers behind the outputs cost, their tokens. It is the same after a
fully cached rerun, which therefore leaves every tracked file unchanged. What a run did (cache
hits, requests sent, retries, failures, USD spent this run, pauses, format fallbacks, batches)
goes to the run log, an untracked JSON Lines file (logs/generate_runs.jsonl by default), one line
per run, and to the summary on stderr.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from stages.generate.params import ModelPrice
from stages.generate.teacher.limits import token_cost
from stages.generate.teacher.plan import TeacherRequest
from stages.generate.teacher.progress import RequestStats, RunReport

USD_DIGITS = 6
FIGURES = ("requests", "answered", "missing", "unfit", "prompt_tokens", "completion_tokens", "dataset_cost_usd")
RUN_FIGURES = ("cache_hits", "requests_sent", "retries", "failures", "cost_usd")


def answer_cost(entry: dict[str, Any], price: ModelPrice) -> float:
    """USD of one stored answer from its usage, at the batch price when it came through the Batch API."""
    usage = entry["response"].get("usage") or {}
    if entry.get("batch_id") and price.batch_input_per_1m is not None and price.batch_output_per_1m is not None:
        price = ModelPrice(input_per_1m=price.batch_input_per_1m, output_per_1m=price.batch_output_per_1m)
    return token_cost(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), price)


def teacher_metrics(
    requests: list[TeacherRequest],
    entries: dict[str, dict[str, Any] | None],
    prices: dict[str, ModelPrice],
    json_repaired: int,
) -> dict[str, Any]:
    """{"teacher": {...}}: planned requests, answered, missing (no answer), unfit (prompt over the
    context), tokens and `dataset_cost_usd` of the answers behind the outputs (from their stored usage
    at today's prices for the endpoint, batch prices for batch answers), prompt tokens per answered
    request (mean, max), answers per response format and via the Batch API, rows whose JSON was
    repaired: overall, per model, per template."""
    total = dict.fromkeys(FIGURES, 0.0)
    by_model: dict[str, dict[str, float]] = {}
    by_template: dict[str, dict[str, float]] = {}
    by_format: dict[str, int] = {}
    prompt_sizes: list[int] = []
    via_batch = 0
    for request in requests:
        entry = entries.get(request.key)
        usage = (entry["response"].get("usage") or {}) if entry is not None else {}
        if entry is not None:
            by_format[str(entry.get("response_format"))] = by_format.get(str(entry.get("response_format")), 0) + 1
            via_batch += bool(entry.get("batch_id"))
            prompt_sizes.append(int(usage.get("prompt_tokens", 0)))
        values = (
            1, entry is not None, entry is None and request.unfit is None, request.unfit is not None,
            usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
            answer_cost(entry, prices[request.generator.model]) if entry is not None else 0.0,
        )  # fmt: skip
        model = by_model.setdefault(request.generator.model, dict.fromkeys(FIGURES, 0.0))
        template = by_template.setdefault(request.template.template_id, dict.fromkeys(FIGURES, 0.0))
        for tally in (total, model, template):
            for name, value in zip(FIGURES, values, strict=True):
                tally[name] += value
    return {
        "teacher": {
            **_rounded(total),
            "prompt_tokens_per_request": {
                "mean": round(sum(prompt_sizes) / len(prompt_sizes), 1) if prompt_sizes else 0,
                "max": max(prompt_sizes, default=0),
            },
            "by_response_format": dict(sorted(by_format.items())),
            "via_batch": via_batch,
            "json_repaired": json_repaired,
            "by_model": {name: _rounded(by_model[name]) for name in sorted(by_model)},
            "by_template": {name: _rounded(by_template[name]) for name in sorted(by_template)},
        }
    }


def _rounded(tally: dict[str, float]) -> dict[str, Any]:
    return {name: round(value, USD_DIGITS) if name.endswith("_usd") else int(value) for name, value in tally.items()}


def run_figures(requests: list[TeacherRequest], cached_keys: set[str], report: RunReport) -> dict[str, Any]:
    """What this run did: cache hits, requests sent, retries, failures (requests given up), USD
    spent this run, whether the budget stopped it, rate-limit pauses, and `report.extra`."""
    figures = dict.fromkeys(RUN_FIGURES, 0.0)
    for request in requests:
        stats = report.stats.get(request.key) or RequestStats()
        figures["cache_hits"] += request.key in cached_keys
        figures["requests_sent"] += stats.sent
        figures["retries"] += stats.retries
        figures["failures"] += stats.failure is not None
        figures["cost_usd"] += stats.charged_usd
    return {
        **_rounded(figures),
        "stopped_by_budget": report.stopped_by_budget,
        "rate_limit_pauses": report.rate_limit_pauses,
        "first_failure": report.first_failure,
        **report.extra,
    }


def append_run_log(path: Path | None, endpoint: str, figures: dict[str, Any]) -> None:
    """Append one line (UTC time, endpoint, the run figures) to the run log; None: no log."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "endpoint": endpoint, **figures}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")


def print_summary(run: dict[str, Any], stream: IO[str] | None = None) -> None:
    """Two lines at most on `stream` (default stderr): what was cached, sent, retried, failed and spent."""
    stream = stream if stream is not None else sys.stderr
    requests = run["cache_hits"] + run["requests_sent"]
    print(
        f"teacher: {run['cache_hits']} cached, {run['requests_sent']} sent ({requests} answered or tried),"
        f" {run['retries']} retries, {run['failures']} failed; ${run['cost_usd']:.4f} this run",
        file=stream,
    )
    if run["failures"]:
        print(
            f"teacher: {run['failures']} requests failed after retries (not cached, rows rejected with the"
            " reason); rerun `dvc repro -f -s generate` to retry only those",
            file=stream,
        )
