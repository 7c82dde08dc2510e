"""The teacher backend's figures in metrics/generate.json (`teacher`), and its summary on stderr."""

from __future__ import annotations

import sys
from typing import IO, Any

from stages.generate.params import GenerateParams
from stages.generate.teacher.limits import request_cost
from stages.generate.teacher.plan import TeacherRequest
from stages.generate.teacher.progress import RequestStats, RunReport

USD_DIGITS = 6
COUNTS = ("requests", "cache_hits", "requests_sent", "retries", "failures", "missing")
TOKENS = ("prompt_tokens", "completion_tokens")
FIGURES = (*COUNTS, *TOKENS, "cost_usd", "dataset_cost_usd")


def teacher_metrics(
    requests: list[TeacherRequest],
    cached_keys: set[str],
    entries: dict[str, dict[str, Any] | None],
    report: RunReport,
    params: GenerateParams,
) -> dict[str, Any]:
    """{"teacher": {...}}: requests, cache hits, retries, failures, tokens and cost: overall, per model, per template.

    Counts are requests; tokens and `cost_usd` (USD, 6 decimals) are this run's (what was sent);
    `dataset_cost_usd` prices every answer behind the outputs, cached or not, from its stored usage
    at today's price table (params `prices`).
    """
    prices = params.openai.prices
    total = dict.fromkeys(FIGURES, 0.0)
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
        model = by_model.setdefault(request.generator.model, dict.fromkeys(FIGURES, 0.0))
        template = by_template.setdefault(request.template.template_id, dict.fromkeys(FIGURES, 0.0))
        for tally in (total, model, template):
            for name, value in zip(FIGURES, values, strict=True):
                tally[name] += value
    return {
        "teacher": {
            **_rounded(total),
            "stopped_by_budget": report.stopped_by_budget,
            "rate_limit_pauses": report.rate_limit_pauses,
            "by_model": {name: _rounded(by_model[name]) for name in sorted(by_model)},
            "by_template": {name: _rounded(by_template[name]) for name in sorted(by_template)},
        }
    }


def _rounded(tally: dict[str, float]) -> dict[str, Any]:
    return {name: round(value, USD_DIGITS) if name.endswith("_usd") else int(value) for name, value in tally.items()}


def print_summary(metrics: dict[str, Any], stream: IO[str] | None = None) -> None:
    """Two lines at most on `stream` (default stderr): what was cached, sent, retried, failed and spent."""
    teacher = metrics["teacher"]
    stream = stream if stream is not None else sys.stderr
    print(
        f"teacher: {teacher['requests']} requests: {teacher['cache_hits']} cached, {teacher['requests_sent']} sent,"
        f" {teacher['retries']} retries, {teacher['failures']} failed; ${teacher['cost_usd']:.4f} this run",
        file=stream,
    )
    if teacher["failures"]:
        print(
            f"teacher: {teacher['failures']} requests failed after retries (not cached, rows rejected with the"
            " reason); rerun `dvc repro -f -s generate` to retry only those",
            file=stream,
        )
