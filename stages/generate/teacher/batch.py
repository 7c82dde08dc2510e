"""The Batch API path (params `batch: true`): the run's requests as JSONL files, answered within 24 h at batch prices.

With the official SDK: each chunk of requests is uploaded (`files.create`, purpose "batch"; one
line per request, `custom_id` = the request key), a batch is created on it (`batches.create`,
completion window 24h), polled with backoff (`batches.retrieve`, params `batch_poll_s` doubling up
to `batch_poll_max_s`), and its output and error files are read (`files.content`) and matched to
requests by `custom_id`. Answers go into the same per-request cache as direct answers, so a rerun,
or a switch between batch and direct, sends nothing already answered.

Chunks stay under the provider's limits (`batch_max_requests` lines, `batch_max_bytes` bytes per
file). The ledger (cache/batches.json, beside the shards) records each batch the moment it exists:
the input file before the batch is created, the batch id as soon as `batches.create` returns. A
killed run's rerun therefore resumes polling the same batch instead of paying for it twice (a
batch created but not yet recorded is found by its input file in `batches.list`). An expired or
cancelled batch's answered part is kept and only the rest resubmitted; failed lines go into a
later batch, or are sent directly (`batch_retry_failed: direct`), for `batch_max_rounds` batches
at most. A refused response format steps the mode down for the next batch (formats.EndpointFacts).
The budget reserves each chunk's worst case at batch prices before it is uploaded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openai

from stages.core.hashing import canonical_json
from stages.core.jsonl import atomic_open
from stages.generate.params import ModelPrice
from stages.generate.teacher.cache import cache_entry
from stages.generate.teacher.formats import context_limit, refusal_names_format
from stages.generate.teacher.limits import token_cost
from stages.generate.teacher.plan import TeacherRequest
from stages.generate.teacher.progress import RequestStats, RunReport
from stages.generate.teacher.setup import TeacherSetup
from stages.generate.teacher.transport import EndpointError, normalize_completion

LEDGER_FILE = "batches.json"
TERMINAL = ("completed", "expired", "cancelled", "failed")
URL = "/v1/chat/completions"
RETRYABLE_CODES = ("batch_expired", "batch_cancelled")
SDK_TIMEOUT_S = 300.0  # uploads and downloads of up to 200 MB


def batch_price(price: ModelPrice) -> ModelPrice:
    """The batch prices of `price` as a plain price (checked to exist by run.endpoint_prices)."""
    return ModelPrice(input_per_1m=price.batch_input_per_1m or 0.0, output_per_1m=price.batch_output_per_1m or 0.0)


class BatchLedger:
    """cache/batches.json: the batches submitted and not yet collected, saved atomically at each change.

    Each entry: {"endpoint", "input_file_id", "id" (None until created), "submitted_at",
    "requests": [[key, mode], ...]}.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / LEDGER_FILE
        self.open: list[dict[str, Any]] = []
        if self.path.exists():
            try:
                self.open = list(json.loads(self.path.read_text(encoding="utf-8")).get("open", []))
            except (ValueError, AttributeError):
                self.open = []

    def save(self) -> None:
        """Write the ledger now (before anything else happens to the batch it records)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.path) as handle:
            handle.write(json.dumps({"open": self.open}, indent=1, sort_keys=True) + "\n")

    def close(self, entry: dict[str, Any]) -> None:
        """Drop a collected (or never created) batch and save."""
        self.open = [other for other in self.open if other is not entry]
        self.save()

    def keys(self, endpoint: str) -> set[str]:
        """Request keys in open batches of `endpoint`."""
        return {key for entry in self.open if entry["endpoint"] == endpoint for key, _ in entry["requests"]}


class BatchRunner:
    """Sends requests through the Batch API and collects the answers into the cache (see the module docstring).

    `setup` (setup.TeacherSetup) gives the settings, endpoint, cache, progress bar, endpoint facts,
    prices, budget, the direct path's client factory (for `batch_retry_failed: direct`) and the log
    that gets notices.
    """

    def __init__(self, setup: TeacherSetup) -> None:
        self.setup = setup
        self.ledger = BatchLedger(setup.cache.directory)
        self.requests: dict[str, TeacherRequest] = {}
        self.errors: dict[str, str] = {}  # key -> why its last line failed
        self.reserved: dict[int, float] = {}  # id(entry) -> USD reserved for a batch submitted by this run
        self.report = RunReport(stats={})
        endpoint = setup.endpoint
        self.client = openai.OpenAI(
            api_key=endpoint.api_key, base_url=endpoint.base_url, max_retries=3, timeout=SDK_TIMEOUT_S
        )

    def run(self, pending: list[TeacherRequest], report: RunReport) -> RunReport:
        """Answer `pending` through batches (resuming open ones first), adding to `report`."""
        self.report = report
        self.requests = {request.key: request for request in pending}
        report.extra.setdefault("batches", [])
        self.seconds = report.extra.setdefault("batch_seconds", {"submit": 0.0, "collect": 0.0, "waiting": 0.0})
        try:
            self._collect_all(list(self.ledger.open))  # a killed run's batches: collected, not paid again
            for round_no in range(self.setup.settings.batch_max_rounds):
                todo = [r for r in pending if self.setup.cache.get(r.key) is None and self._retryable(r.key)]
                if not todo or report.stopped_by_budget:
                    break
                if round_no > 0 and self.setup.settings.batch_retry_failed == "direct":
                    self._direct(todo)
                    break
                self._collect_all(self._submit(todo))
            self._give_up([r for r in pending if self.setup.cache.get(r.key) is None])
        except KeyboardInterrupt:
            ids = [str(entry.get("id") or entry["input_file_id"]) for entry in self.ledger.open]
            print(
                f"teacher: open batches {ids} are saved in {self.ledger.path}; a rerun collects them",
                file=self.setup.log,
            )
            raise
        except (openai.APIConnectionError, openai.APIStatusError) as err:
            raise EndpointError(
                f"the Batch API at {self.setup.endpoint.base_url} failed: {self._describe(err)}"
            ) from None
        finally:
            self.client.close()
        return report

    def _describe(self, err: Exception) -> str:
        status = f"HTTP {err.status_code} " if isinstance(err, openai.APIStatusError) else ""
        return self.setup.endpoint.redact(" ".join(f"{status}{type(err).__name__}: {err}".split()))[:500]

    def _retryable(self, key: str) -> bool:
        stats = self.report.stats.get(key)
        return not (stats and stats.failure)

    def _direct(self, todo: list[TeacherRequest]) -> None:
        from stages.generate.teacher.direct import TeacherRunner  # only this fallback needs the async path

        TeacherRunner(self.setup).run(todo, self.report)

    def _give_up(self, unanswered: list[TeacherRequest]) -> None:
        for request in unanswered:
            stats = self.report.stats.setdefault(request.key, RequestStats())
            if stats.failure is None and not self.report.stopped_by_budget:
                stats.failure = self.errors.get(request.key) or "request_failed: no answer in the batch output"
                self.setup.progress.failed += 1
        self.setup.progress.update(force=True)

    # --- submitting ----------------------------------------------------------------------------

    def _chunks(self, todo: list[TeacherRequest]) -> Iterator[list[tuple[TeacherRequest, str, bytes]]]:
        """Lines of `todo` in chunks under batch_max_requests lines and batch_max_bytes bytes."""
        chunk: list[tuple[TeacherRequest, str, bytes]] = []
        size = 0
        for request in todo:
            mode = self.setup.facts.mode(request.generator.model, self.setup.settings.response_format)
            line = canonical_json(
                {"custom_id": request.key, "method": "POST", "url": URL, "body": request.body_for(mode)}
            )
            data = (line + "\n").encode("utf-8")
            if len(data) > self.setup.settings.batch_max_bytes:
                self._fail(request.key, f"request_too_large: {len(data)} bytes, over batch_max_bytes")
                continue
            if chunk and (
                len(chunk) >= self.setup.settings.batch_max_requests
                or size + len(data) > self.setup.settings.batch_max_bytes
            ):
                yield chunk
                chunk, size = [], 0
            chunk.append((request, mode, data))
            size += len(data)
        if chunk:
            yield chunk

    def _fail(self, key: str, reason: str) -> None:
        self.report.stats.setdefault(key, RequestStats()).failure = reason
        self.setup.progress.failed += 1

    def _submit(self, todo: list[TeacherRequest]) -> list[dict[str, Any]]:
        """Upload and create one batch per chunk, each recorded in the ledger as soon as it exists."""
        submitted = []
        started = time.monotonic()
        for chunk in self._chunks(todo):
            reserved = sum(self._worst_case(request) for request, _, _ in chunk)
            if not self.setup.budget.try_reserve(reserved):
                self.report.stopped_by_budget = True
                break
            upload = self.client.files.create(
                file=("requests.jsonl", b"".join(d for _, _, d in chunk)), purpose="batch"
            )
            entry = {
                "endpoint": self.setup.endpoint.base_url,
                "input_file_id": upload.id,
                "id": None,
                "submitted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "requests": [[request.key, mode] for request, mode, _ in chunk],
            }
            self.reserved[id(entry)] = reserved
            self.ledger.open.append(entry)
            self.ledger.save()
            batch = self.client.batches.create(
                input_file_id=upload.id, endpoint=URL, completion_window="24h", metadata={"source": "generate"}
            )
            entry["id"] = batch.id
            self.ledger.save()
            for request, _, _ in chunk:
                self.report.stats.setdefault(request.key, RequestStats()).sent = True
            submitted.append(entry)
        self.seconds["submit"] += time.monotonic() - started
        return submitted

    def _worst_case(self, request: TeacherRequest) -> float:
        price = batch_price(self.setup.prices[request.generator.model])
        return token_cost(request.max_prompt_tokens, request.max_completion_tokens, price)

    # --- polling and collecting ----------------------------------------------------------------

    def _collect_all(self, entries: list[dict[str, Any]]) -> None:
        """Poll every batch of `entries` until it ends (backoff between rounds), collecting each as it does."""
        entries = [entry for entry in entries if self._has_batch(entry)]
        delay = self.setup.settings.batch_poll_s
        while entries:
            still_open = []
            statuses = []
            for entry in entries:
                batch = self.client.batches.retrieve(entry["id"])
                counts = batch.request_counts
                done = f"{counts.completed}/{counts.total} failed {counts.failed}" if counts else ""
                statuses.append(f"{batch.id} {batch.status} {done}".strip())
                if batch.status in TERMINAL:
                    self._collect(entry, batch)
                else:
                    still_open.append(entry)
            self.setup.progress.batch_status = "; ".join(statuses)
            self.setup.progress.update(force=True)
            entries = still_open
            if entries:
                time.sleep(delay)
                self.seconds["waiting"] += delay
                delay = min(self.setup.settings.batch_poll_max_s, delay * 2)
        self.setup.progress.batch_status = ""

    def _has_batch(self, entry: dict[str, Any]) -> bool:
        """Whether the entry's batch exists: a run killed between upload and create left only the file."""
        if entry.get("endpoint") != self.setup.endpoint.base_url:
            return False  # another endpoint's batch: collected by a run against that endpoint
        if entry.get("id"):
            return True
        for batch in self.client.batches.list(limit=100):
            if batch.input_file_id == entry["input_file_id"]:
                entry["id"] = batch.id
                self.ledger.save()
                return True
        self.ledger.close(entry)  # never created: its requests are submitted again
        return False

    def _collect(self, entry: dict[str, Any], batch: Any) -> None:
        started = time.monotonic()
        modes = {key: mode for key, mode in entry["requests"]}
        charged = 0.0
        if batch.status == "failed":
            self.ledger.close(entry)
            problems = "; ".join(f"{e.code}: {e.message}" for e in (batch.errors.data or [])) if batch.errors else ""
            raise EndpointError(f"the Batch API at {self.setup.endpoint.base_url} refused batch {batch.id}: {problems}")
        for line in self._lines(batch.output_file_id):
            charged += self._answer(line, modes, batch.id)
        for line in self._lines(batch.error_file_id):
            self._line_error(line, modes)
        # A batch resumed from an earlier run was reserved there: here it only counts as spent.
        self.setup.budget.settle(self.reserved.pop(id(entry), 0.0), charged)
        self.setup.progress.cost += charged
        answered = sum(1 for key in modes if self.setup.cache.get(key) is not None)
        self.report.extra["batches"].append(
            {"id": batch.id, "status": batch.status, "requests": len(modes), "answered": answered}
        )
        self.ledger.close(entry)
        self.seconds["collect"] += time.monotonic() - started

    def _lines(self, file_id: str | None) -> Iterator[dict[str, Any]]:
        if not file_id:
            return
        content = self.client.files.content(file_id).content
        for raw in content.splitlines():
            if raw.strip():
                yield json.loads(raw)

    def _answer(self, line: dict[str, Any], modes: dict[str, str], batch_id: str) -> float:
        """Store one output line's answer; returns its cost at batch prices."""
        key, response = line.get("custom_id"), line.get("response") or {}
        if key not in modes or self.setup.cache.get(key) is not None:
            return 0.0
        if response.get("status_code") != 200:
            self._line_error(line, modes)
            return 0.0
        answer = normalize_completion(response.get("body"))
        request = self.requests.get(key)
        if request is None:  # planned by an earlier run: keep the paid answer under its key
            entry = {"key": key, "endpoint": self.setup.endpoint.base_url, "response_format": modes[key],
                     "response": answer, "batch_id": batch_id}  # fmt: skip
            self.setup.cache.append(entry)
            return 0.0
        self.setup.cache.append(cache_entry(request, answer, self.setup.endpoint.base_url, modes[key], batch_id))
        self.setup.facts.reached(request.generator.model, modes[key])
        stats = self.report.stats.setdefault(key, RequestStats())
        stats.sent = True
        if answer["usage"]:
            self.setup.progress.tokens += stats.add_usage(answer["usage"])
        usage = answer["usage"] or {}
        cost = token_cost(
            usage.get("prompt_tokens", 0),
            usage.get("completion_tokens", 0),
            batch_price(self.setup.prices[request.generator.model]),
        )
        stats.charged_usd += cost
        self.setup.progress.sent += 1
        return cost

    def _line_error(self, line: dict[str, Any], modes: dict[str, str]) -> None:
        """Why one line failed, and what follows: resubmit (expired, cancelled, 5xx, a refused format
        after stepping down), or give up (context overflow, another 4xx)."""
        key = line.get("custom_id")
        request = self.requests.get(key or "")
        if request is None or self.setup.cache.get(request.key) is not None:
            return
        error, response = line.get("error") or {}, line.get("response") or {}
        status = int(response.get("status_code") or 0)
        body = response.get("body") if isinstance(response.get("body"), dict) else {}
        message = str((body.get("error") or {}).get("message") or error.get("message") or "no answer")
        reason = (
            f"request_failed: batch line {error.get('code') or f'HTTP {status}'}: {' '.join(message.split())[:300]}"
        )
        self.errors[request.key] = self.setup.endpoint.redact(reason)
        model = request.generator.model
        if refusal_names_format(status, message):
            self.setup.facts.step_down(model, modes[request.key])
        elif status == 400 and context_limit(message) is not None:
            self.setup.facts.learn_context(model, context_limit(message) or 0)
            self._fail(request.key, self.setup.endpoint.redact(f"context_exceeded: {message[:300]}"))
        elif 400 <= status < 500 and status not in (408, 409, 429):
            self._fail(request.key, self.errors[request.key])
