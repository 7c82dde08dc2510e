"""The Batch API path (generate.openai.batch: true): the real openai SDK over real HTTP.

tests/openai_server.py serves /v1/files and /v1/batches (tests/openai_batches.py) and counts the
batches created and the lines it answered, which is what OpenAI would bill: a line answered twice
is a request paid twice. No test asserts timings.
"""

# ruff: noqa: F811  (the fixtures imported from tests.test_teacher are redefined as test arguments)
from __future__ import annotations

import io
import json
import math
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stages.core.errors import UserError
from tests.conftest import env_with_venv, read_rows
from tests.openai_server import TEST_API_KEY, FakeOpenAIServer
from tests.test_teacher import (  # noqa: F401  (fixtures: api_key, seeded_template, server, teacher_project)
    REQUESTS,
    accounted,
    api_key,
    cache_lines,
    figures,
    files_containing,
    output_bytes,
    run_generate,
    seeded_template,
    server,
    stage_args,
    teacher_project,
    teacher_result,
    update_openai,
)

FAST_POLL = {"batch": True, "batch_poll_s": 0.02, "batch_poll_max_s": 0.1}


def batch_ids(project: Path) -> set[str]:
    return {entry["batch_id"] for entry in cache_lines(project) if entry.get("batch_id")}


def test_a_batch_run_answers_every_request_at_batch_prices_and_reruns_send_nothing(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    update_openai(teacher_project, **FAST_POLL)
    progress = io.StringIO()
    result = teacher_result(teacher_project, progress)
    assert server.arrivals == 0  # not one direct chat request
    assert server.batches.created == 1 and server.batches.answered_lines == REQUESTS
    assert "batch_0001 completed" in progress.getvalue()  # the progress line shows the batch's status
    teacher = result.metrics["teacher"]
    assert teacher["via_batch"] == teacher["answered"] == REQUESTS and teacher["missing"] == 0
    rows = result.rows + [c for pair in result.pairs for c in pair["candidates"]]
    assert rows and {row["provenance"]["batch_id"] for row in rows} == {"batch_0001"}
    assert math.isclose(result.run["cost_usd"], teacher["dataset_cost_usd"], abs_tol=1e-6)
    assert result.run["batches"] == [{"id": "batch_0001", "status": "completed", "requests": REQUESTS,
                                      "answered": REQUESTS}]  # fmt: skip
    assert json.loads((teacher_project / "data/generate/cache/batches.json").read_text()) == {"open": []}
    assert files_containing(TEST_API_KEY, teacher_project) == []  # not in the ledger, facts, cache or rows

    # Batch prices are half the direct ones here: the same answers priced directly cost twice as much.
    direct_cost = 0.0
    for entry in cache_lines(teacher_project):
        usage, price = entry["response"]["usage"], {"teacher-a": (1.0, 2.0), "teacher-b": (0.5, 1.0)}[entry["model"]]
        direct_cost += (usage["prompt_tokens"] * price[0] + usage["completion_tokens"] * price[1]) / 1e6
    assert math.isclose(teacher["dataset_cost_usd"] * 2, direct_cost, abs_tol=2e-6)  # (6 decimals)

    # A rerun, and a switch to the direct path, send nothing: the same per-request cache answers.
    run_generate(teacher_project, monkeypatch)
    first = output_bytes(teacher_project)
    update_openai(teacher_project, batch=False)
    run_generate(teacher_project, monkeypatch)
    assert output_bytes(teacher_project) == first
    assert server.arrivals == 0 and server.batches.created == 1


@pytest.mark.parametrize(("max_requests", "max_bytes"), [(10, 200_000_000), (50_000, 40_000)])
def test_large_runs_are_split_under_the_line_and_byte_limits(
    teacher_project: Path, server: FakeOpenAIServer, max_requests: int, max_bytes: int
) -> None:
    server.batches.max_lines, server.batches.max_bytes = max_requests, max_bytes  # the server enforces them
    update_openai(teacher_project, **FAST_POLL, batch_max_requests=max_requests, batch_max_bytes=max_bytes)
    result = teacher_result(teacher_project)
    lines, size = server.batches.largest_file
    assert lines <= max_requests and size <= max_bytes
    assert server.batches.created >= 2 and server.batches.answered_lines == REQUESTS
    assert result.metrics["teacher"]["answered"] == REQUESTS
    if max_requests == 10:
        assert server.batches.created == math.ceil(REQUESTS / 10)


@pytest.mark.parametrize("end_status", ["expired", "cancelled"])
def test_an_expired_or_cancelled_batch_keeps_its_answers_and_only_the_rest_is_resubmitted(
    teacher_project: Path, server: FakeOpenAIServer, end_status: str
) -> None:
    server.batches.stop_after, server.batches.end_status = 30, end_status  # every batch ends after 30 lines
    update_openai(teacher_project, **FAST_POLL, batch_max_rounds=3)
    result = teacher_result(teacher_project)
    assert server.batches.created == 3  # 30 + 30 + 12 answered
    assert server.batches.answered_lines == REQUESTS  # no line answered (paid) twice
    assert [b["status"] for b in result.run["batches"]] == [end_status, end_status, "completed"]
    assert result.metrics["teacher"]["missing"] == 0


def fail_once(seeds_to_fail: int) -> Any:
    """A content fault: HTTP 500 for the first answer to the first few sampling seeds, then answers."""
    failed: Counter[int] = Counter()

    def fault(body: dict[str, Any]) -> str | None:
        seed = body["seed"]
        if (seed % 9 == 0 or len(failed) < seeds_to_fail) and failed[seed] == 0:
            failed[seed] += 1
            return "http_500"
        return None

    return fault


@pytest.mark.parametrize("retry_failed", ["batch", "direct"])
def test_failed_lines_go_into_a_later_batch_or_are_sent_directly(
    teacher_project: Path, server: FakeOpenAIServer, retry_failed: str
) -> None:
    server.content_fault = fail_once(3)
    update_openai(teacher_project, **FAST_POLL, batch_retry_failed=retry_failed)
    result = teacher_result(teacher_project)
    failed_first = REQUESTS - server.batches.answered_lines if retry_failed == "direct" else None
    assert result.metrics["teacher"]["missing"] == 0 and result.run["failures"] == 0
    if retry_failed == "batch":
        assert server.batches.created == 2 and server.arrivals == 0
        assert server.batches.answered_lines == REQUESTS
    else:
        assert server.batches.created == 1 and server.arrivals == failed_first and failed_first >= 3


def test_a_refused_response_format_steps_down_for_the_next_batch(
    teacher_project: Path, server: FakeOpenAIServer
) -> None:
    server.refused_formats = {"json_schema"}  # llama.cpp-like: HTTP 500 naming the format
    update_openai(teacher_project, **FAST_POLL)
    result = teacher_result(teacher_project)
    assert server.batches.created == 2 and result.metrics["teacher"]["answered"] == REQUESTS
    assert result.metrics["teacher"]["by_response_format"] == {"json_object_schema": REQUESTS}


def test_the_budget_bounds_batches_at_batch_prices(teacher_project: Path, server: FakeOpenAIServer) -> None:
    update_openai(teacher_project, **FAST_POLL, batch_max_requests=10, max_cost_usd=0.02)
    result = teacher_result(teacher_project)
    assert result.stop_message and "budget reached" in result.stop_message
    assert 0 < server.batches.answered_lines < REQUESTS
    assert result.run["cost_usd"] <= 0.02


def test_a_batch_run_without_batch_prices_is_refused(teacher_project: Path, server: FakeOpenAIServer) -> None:
    params_prices = {server.base_url: {"teacher-a": {"input_per_1m": 1, "output_per_1m": 2},
                                       "teacher-b": {"input_per_1m": 1, "output_per_1m": 2}}}  # fmt: skip
    update_openai(teacher_project, **FAST_POLL, prices=params_prices)
    with pytest.raises(UserError, match="gives no batch_input_per_1m/batch_output_per_1m for 'teacher-a'"):
        teacher_result(teacher_project)
    assert server.batches.created == 0


def test_a_killed_batch_run_resumes_polling_the_same_batch_instead_of_paying_twice(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.batches.line_s = 0.03  # the batch takes ~2 s: long enough to kill the run while it polls
    update_openai(teacher_project, **FAST_POLL)
    process = subprocess.Popen(
        [sys.executable, "-m", "stages.generate", *stage_args(teacher_project)],
        env=env_with_venv(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    ledger = teacher_project / "data/generate/cache/batches.json"
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if ledger.exists() and any(entry.get("id") for entry in json.loads(ledger.read_text())["open"]):
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert server.batches.created == 1 and not cache_lines(teacher_project)  # killed while the batch ran

    run_generate(teacher_project, monkeypatch)
    assert server.batches.created == 1  # the rerun polled the saved batch: nothing submitted twice
    assert server.batches.answered_lines == REQUESTS and server.arrivals == 0
    assert accounted(teacher_project) == REQUESTS and batch_ids(teacher_project) == {"batch_0001"}
    assert figures(teacher_project)["batches"][0]["id"] == "batch_0001"
    rejected = read_rows(teacher_project / "data/generate/rejected.jsonl")
    assert all(not row["reasons"][0].startswith("request_failed") for row in rejected)
