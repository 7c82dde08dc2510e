"""Teacher backend (generate.backend: openai): the real openai SDK over real HTTP.

The server is tests/openai_server.py on 127.0.0.1, started per test; it injects faults and counts
the requests it receives, which is how these tests see what was (re)sent. No test asserts timings.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stages.core.domain import load_domain
from stages.core.errors import UserError
from stages.core.params import load_section
from stages.core.rows import schema_problem
from stages.generate.params import GenerateParams, TeacherGenerator
from stages.generate.teacher import limits as teacher_limits
from stages.generate.teacher.answers import Parsed, parse_answer, response_problem
from stages.generate.teacher.cache import ResponseCache
from stages.generate.teacher.limits import Budget, parse_reset, parse_retry_after, rate_limit_pause, retry_delay
from stages.generate.teacher.plan import pick_generators
from stages.generate.teacher.prompts import load_template
from stages.generate.teacher.run import TeacherPaths, TeacherResult, generate_with_teacher
from stages.generate.teacher.transport import Endpoint
from tests.conftest import FIXTURE_POLICY, ROOT, env_with_venv, make_project, read_rows, run, run_stage
from tests.openai_server import TEST_API_KEY, FakeOpenAIServer

SEEDS = 30  # make_project: 6 intents x 4 cases + 6 failures
PAIR_SEEDS = 6  # case 0 of every intent is marked pair: true
VARIATIONS = 2
REQUESTS = SEEDS * VARIATIONS + 2 * PAIR_SEEDS
MODELS = {"teacher-a": (1.0, 2.0), "teacher-b": (0.5, 1.0)}  # USD per 1M input / output tokens


def teacher_settings(base_url: str, **overrides: Any) -> dict[str, Any]:
    """generate.openai for tests: two models, four templates, fast retries."""
    settings: dict[str, Any] = {
        "base_url": base_url,
        "generators": [
            {"model": "teacher-a", "template": "variation_rephrase", "temperature": 0.8, "weight": 2},
            {"model": "teacher-b", "template": "variation_persona", "temperature": 1.0},
        ],
        "pair_generators": [
            {"model": "teacher-a", "template": "reply_concise", "temperature": 0.7},
            {"model": "teacher-b", "template": "reply_thorough", "temperature": 0.7},
        ],
        "response_format": "json_schema",
        "max_tokens": 400,
        "concurrency": 4,
        "timeout_s": 5.0,  # generous: a spurious timeout on a busy machine would add a request to the counts
        "max_retries": 4,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.2,
        "prices": {
            base_url or "http://127.0.0.1/v1": {
                name: {
                    "input_per_1m": price[0],
                    "output_per_1m": price[1],
                    "batch_input_per_1m": price[0] / 2,
                    "batch_output_per_1m": price[1] / 2,
                }
                for name, price in MODELS.items()
            }
        },
        "max_cost_usd": None,
        "rpm_limit": None,  # the server's own limits are what the tests exercise
        "tpm_limit": None,
    }
    settings.update(overrides)
    return settings


# The tests' own policy, the size and shape of a real one (~17 kB; an introduction and rule 1.1 of a
# real policy's length, since prompts quote them), so prompt sizes do not depend on seeds/.
TEACHER_POLICY = (
    "# Freshbox - Support Policy (teacher test fixture)\n\n"
    "Freshbox delivers groceries ordered in the Freshbox app to homes and offices. The support assistant"
    ' states only the facts and rules below. "Hand over" means connecting the customer to a human agent'
    ' in the chat. Times are local; "working day" means Monday to Friday, excluding public holidays.\n\n'
    "## 1. Deliveries\n\n"
    "1.1 **Late orders.** Orders arrive in the chosen 1-hour slot; the driver's position is in Orders >"
    " Track order. An order more than 30 minutes late earns a €5 voucher, added to the account within 1"
    " working day. If the order has not arrived 2 hours after the slot ends, the customer reports it in"
    " Orders > Report a problem and the order is refunded in full. Before that, ask them to wait; the"
    " driver may call from an unknown number.\n"
    + FIXTURE_POLICY[FIXTURE_POLICY.index("1.2 **Missing items.**") - 1 :]
    + "\n".join(
        f"\n{section}.{rule} **Rule {section}.{rule}.** Orders of this kind are checked by a person within"
        f" {rule + 1} working days; the customer is told by e-mail, and an agent takes over if the answer is late."
        for section in range(4, 18)
        for rule in range(1, 8)
    )
)


def seeded_project(root: Path) -> Path:
    """make_project plus what the teacher needs (prompts/, a policy of a real one's size) and the seed
    stage's output. The policy is the tests' own, so prompt sizes (and costs) do not depend on seeds/."""
    make_project(root)
    shutil.copytree(ROOT / "prompts", root / "prompts")
    (root / "seeds/policy.md").write_text(TEACHER_POLICY, encoding="utf-8")
    run_stage("seed", root)
    return root


def set_generate(project: Path, base_url: str, variations: int = 2, **openai: Any) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["generate"]["backend"] = "openai"
    params["generate"]["variations_per_seed"] = variations
    params["generate"]["openai"] = teacher_settings(base_url, **openai)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def update_openai(project: Path, **changes: Any) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["generate"]["openai"].update(changes)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def stage_args(project: Path) -> list[str]:
    """Explicit paths, so the stage can run in-process without changing directory."""
    return [
        "--seeds", str(project / "data/seed/seeds.jsonl"),
        "--params", str(project / "params.yaml"),
        "--out", str(project / "data/generate"),
        "--metrics", str(project / "metrics/generate.json"),
        "--prompts", str(project / "prompts"),
        "--policy", str(project / "seeds/policy.md"),
        "--run-log", str(project / "logs/generate_runs.jsonl"),
        "--domain", str(project / "seeds/domain.yaml"),
    ]  # fmt: skip


def run_generate(project: Path, monkeypatch: Any) -> None:
    """The whole generate stage in this process (fast); UserErrors propagate."""
    import stages.generate.stage as generate

    monkeypatch.setattr(sys, "argv", ["generate", *stage_args(project)])
    generate.main()


def teacher_result(project: Path, progress: io.StringIO | None = None) -> TeacherResult:
    """generate_with_teacher on the project, progress captured."""
    params = load_section(project / "params.yaml", "generate", GenerateParams)
    paths = TeacherPaths(
        prompts=project / "prompts",
        policy=project / "seeds/policy.md",
        cache=project / "data/generate/cache",
        params=project / "params.yaml",
        domain=project / "seeds/domain.yaml",
    )
    seeds = read_rows(project / "data/seed/seeds.jsonl")
    return generate_with_teacher(seeds, params, paths, progress_stream=progress or io.StringIO())


def metrics(project: Path) -> dict[str, Any]:
    return json.loads((project / "metrics/generate.json").read_text())


def figures(project: Path) -> dict[str, Any]:
    """The data's teacher metrics and the last run's figures (the untracked run log) in one dict."""
    runs = (project / "logs/generate_runs.jsonl").read_text().splitlines()
    return {**metrics(project)["teacher"], **json.loads(runs[-1])}


def output_bytes(project: Path) -> dict[str, bytes]:
    return {
        name: (project / "data/generate" / name).read_bytes()
        for name in ("rows.jsonl", "rejected.jsonl", "pairs.jsonl")
    }


def cache_lines(project: Path) -> list[dict[str, Any]]:
    """Complete cache lines (a torn last line is not a line)."""
    entries = []
    for shard in sorted((project / "data/generate/cache").glob("*.jsonl")):
        for line in shard.read_bytes().split(b"\n")[:-1]:
            entries.append(json.loads(line))
    return entries


def files_containing(secret: str, *roots: Path) -> list[str]:
    """Every file under `roots` whose bytes contain `secret`."""
    needle = secret.encode()
    found = []
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        found += [str(path) for path in paths if needle in path.read_bytes()]
    return found


def accounted(project: Path) -> int:
    """Planned requests that ended up in an output: rows, rejected rows, or pair candidates."""
    out = project / "data/generate"
    return (
        len(read_rows(out / "rows.jsonl"))
        + len(read_rows(out / "rejected.jsonl"))
        + 2 * len(read_rows(out / "pairs.jsonl"))
    )


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_project(tmp_path_factory.mktemp("teacher-template"))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def teacher_project(seeded_template: Path, tmp_path: Path, server: FakeOpenAIServer) -> Path:
    project = tmp_path / "project"
    shutil.copytree(seeded_template, project)
    set_generate(project, server.base_url, variations=VARIATIONS)
    return project


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


# --- the run: faults, accounting, provenance, pairs -------------------------------------------


def content_faults(body: dict[str, Any]) -> str | None:
    """Answer faults fixed per request (by its sampling seed), so they do not depend on order."""
    return {0: "malformed", 1: "length", 2: "refusal", 3: "prose"}.get(body["seed"] % 7)


def test_faults_are_retried_and_every_row_is_accounted_for(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.faults = {2: "429", 3: "500", 5: "slow", 8: "drop", 11: "bad_body", 13: "500"}
    update_openai(teacher_project, timeout_s=1.0)
    server.slow_s = 2.0  # past the timeout
    server.content_fault = content_faults
    run_generate(teacher_project, monkeypatch)

    teacher = figures(teacher_project)
    assert teacher["retries"] == len(server.faults)  # each faulty answer cost exactly one retry
    assert teacher["failures"] == 0 and teacher["missing"] == 0
    assert teacher["requests"] == teacher["requests_sent"] == teacher["answered"] == REQUESTS
    assert server.arrivals == REQUESTS + len(server.faults)
    assert accounted(teacher_project) == REQUESTS

    out = teacher_project / "data/generate"
    rows, rejected, pairs = (read_rows(out / name) for name in ("rows.jsonl", "rejected.jsonl", "pairs.jsonl"))
    for row in rows + [candidate for pair in pairs for candidate in pair["candidates"]]:
        assert schema_problem(row) is None, row
    codes = Counter(reason.split(":")[0] for row in rejected for reason in row["reasons"])
    assert set(codes) <= {"unparseable", "truncated", "refusal", "pair_incomplete", "no_change"}, codes
    assert codes["unparseable"] and codes["truncated"] and codes["refusal"]
    for row in rejected:
        if row["reasons"][0].startswith(("unparseable", "truncated")):
            assert row["raw"], row  # the raw answer is kept for inspection
    # Answers wrapped in prose and code fences are still parsed.
    prose_keys = {e["key"] for e in cache_lines(teacher_project) if (e["response"]["content"] or "").startswith("Here")}
    used_keys = {r["provenance"]["request_key"] for r in rows} | {
        c["provenance"]["request_key"] for pair in pairs for c in pair["candidates"]
    }
    # a parsed candidate whose pair partner failed is left out as pair_incomplete, not for its own answer
    incomplete = {
        (r.get("provenance") or {}).get("request_key")
        for r in rejected
        if r["reasons"][0].startswith("pair_incomplete")
    }
    assert prose_keys and prose_keys <= used_keys | incomplete


def test_provenance_and_preference_pairs(teacher_project: Path, server: FakeOpenAIServer) -> None:
    result = teacher_result(teacher_project)
    assert server.arrivals == REQUESTS
    bodies = {entry["key"]: entry for entry in cache_lines(teacher_project)}
    generators = {
        (g["model"], g["template"]): g
        for g in teacher_settings("")["generators"] + teacher_settings("")["pair_generators"]
    }
    rows = result.rows + [c for pair in result.pairs for c in pair["candidates"]]
    domain = load_domain(teacher_project / "seeds/domain.yaml").prompt_values()
    for row in rows:
        provenance = row["provenance"]
        template_file = teacher_project / "prompts" / f"{provenance['template_id']}.md"
        # the hash covers the file and the domain values it is filled with (seeds/domain.yaml)
        assert provenance["template_hash"] == load_template(template_file, domain).content_hash
        assert provenance["model_version"] == f"{provenance['model']}-2026-01-01"  # as the server reported
        assert provenance["system_fingerprint"] == "fp_test"
        assert provenance["created_at"].endswith("Z")
        entry = bodies[provenance["request_key"]]
        assert entry["seed"] == provenance["sampling_seed"]
        assert provenance["temperature"] == generators[(provenance["model"], provenance["template_id"])]["temperature"]
    seeds = {seed["id"]: seed for seed in read_rows(teacher_project / "data/seed/seeds.jsonl")}
    assert len(result.pairs) == PAIR_SEEDS
    for pair in result.pairs:
        first, second = pair["candidates"]
        assert (first["provenance"]["model"], first["provenance"]["template_id"]) != (
            second["provenance"]["model"],
            second["provenance"]["template_id"],
        )
        seed_turns = seeds[pair["seed_id"]]["messages"]
        assert pair["prompt"] == seed_turns[: len(pair["prompt"])] and pair["prompt"][-1]["role"] == "user"
        for candidate in (first, second):
            assert candidate["origin"] == "pair_candidate" and candidate["meta"]["pair_id"] == pair["id"]
            assert candidate["messages"][:-1] == pair["prompt"]
    # Both templates of each kind were used; weights 2:1 show up across seeds.
    per_template = Counter(row["provenance"]["template_id"] for row in result.rows)
    assert per_template["variation_rephrase"] > per_template["variation_persona"] > 0


@pytest.mark.parametrize("response_format", ["json_object", "json_object_schema", "text"])
def test_other_response_formats_are_sent_as_asked_and_parsed(
    teacher_project: Path, server: FakeOpenAIServer, response_format: str
) -> None:
    update_openai(teacher_project, response_format=response_format)
    result = teacher_result(teacher_project)
    assert len(result.rows) == SEEDS * VARIATIONS and len(result.pairs) == PAIR_SEEDS
    expected = {"json_object": "json_object", "json_object_schema": "json_object+schema", "text": "none"}
    assert set(server.response_formats) == {expected[response_format]}


# --- cache: reruns, params changes, resume ------------------------------------------------------


def test_rerun_sends_nothing_and_writes_the_same_bytes(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.content_fault = content_faults
    run_generate(teacher_project, monkeypatch)
    first = output_bytes(teacher_project)
    server.reset_counts()
    run_generate(teacher_project, monkeypatch)
    assert server.arrivals == 0
    assert output_bytes(teacher_project) == first
    teacher = figures(teacher_project)
    assert teacher["cache_hits"] == REQUESTS and teacher["requests_sent"] == 0 and teacher["cost_usd"] == 0
    assert teacher["dataset_cost_usd"] > 0
    assert teacher["answered"] == REQUESTS and teacher["prompt_tokens_per_request"]["mean"] > 0
    # A fully cached run needs no key at all (say, after `dvc pull` on a machine without one).
    monkeypatch.delenv("OPENAI_API_KEY")
    run_generate(teacher_project, monkeypatch)
    assert output_bytes(teacher_project) == first and server.arrivals == 0


def test_params_change_rerequests_only_the_rows_it_affects(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_generate(teacher_project, monkeypatch)
    before = {row["id"]: row for row in read_rows(teacher_project / "data/generate/rows.jsonl")}
    persona_rows = sum(1 for row in before.values() if row["provenance"]["template_id"] == "variation_persona")

    settings = teacher_settings(server.base_url)
    settings["generators"][1]["temperature"] = 0.6  # only the persona generator changes
    server.reset_counts()
    update_openai(teacher_project, generators=settings["generators"])
    run_generate(teacher_project, monkeypatch)
    assert server.arrivals == persona_rows
    after = {row["id"]: row for row in read_rows(teacher_project / "data/generate/rows.jsonl")}
    kept = {i for i, row in before.items() if row["provenance"]["template_id"] != "variation_persona"}
    assert kept <= set(after)  # the other generator's rows are untouched

    server.reset_counts()
    params = yaml.safe_load((teacher_project / "params.yaml").read_text())
    params["generate"]["variations_per_seed"] = VARIATIONS + 1
    (teacher_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_generate(teacher_project, monkeypatch)
    assert server.arrivals == SEEDS  # one new variation per seed, nothing else

    server.reset_counts()
    template = teacher_project / "prompts/reply_thorough.md"
    template.write_text(template.read_text() + "\nBe kind.\n")
    run_generate(teacher_project, monkeypatch)
    assert server.arrivals == sum(
        1 for pair in read_rows(teacher_project / "data/generate/pairs.jsonl") for c in pair["candidates"]
        if c["provenance"]["template_id"] == "reply_thorough"
    )  # fmt: skip


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_killed_run_resumes_without_resending_completed_requests(
    teacher_project: Path, server: FakeOpenAIServer, sig: signal.Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.latency_s = 0.05
    server.hold_after = 10  # answers after the tenth wait: the run is certainly mid-way when the signal comes
    update_openai(teacher_project, concurrency=2)
    # A shell without job control starts background jobs with SIGINT ignored, and an ignored signal stays
    # ignored across exec: under such a CI runner the stage would never see this Ctrl-C. A handler here
    # (not SIG_IGN) becomes the default disposition in the child, as in a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "stages.generate", *stage_args(teacher_project)],
            env=env_with_venv(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 120
    while server.completed < 10 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it was interrupted"
    process.send_signal(sig)
    server.release.set()  # the held answers come, as a real server's would: an interrupted run may wait for them
    _, stderr = process.communicate(timeout=60)
    server.hold_after = None
    assert process.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 130), stderr
    if sig == signal.SIGINT:
        assert "interrupted" in stderr and "Traceback" not in stderr

    persisted = {entry["key"] for entry in cache_lines(teacher_project)}
    assert 0 < len(persisted) < REQUESTS  # (the last few answers may have been in flight)
    first_bodies, first_arrivals = set(server.body_counts), server.arrivals
    shard = sorted((teacher_project / "data/generate/cache").glob("*.jsonl"))[-1]
    with shard.open("ab") as handle:  # what a kill in the middle of a write leaves behind
        handle.write(b'{"key": "torn-li')

    server.reset_counts()
    server.latency_s = 0.0
    run_generate(teacher_project, monkeypatch)
    assert server.arrivals == REQUESTS - len(persisted)  # only what was missing
    # Re-sent: exactly the requests that were in flight when the run died, never a completed one.
    assert len(first_bodies & set(server.body_counts)) == first_arrivals - len(persisted)
    assert accounted(teacher_project) == REQUESTS
    assert figures(teacher_project)["cache_hits"] == len(persisted)
    assert len(cache_lines(teacher_project)) == REQUESTS  # the torn line was cut, not glued to the next


def test_cache_reads_past_a_torn_last_line_and_appends_cleanly(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    with ResponseCache(directory) as cache:
        cache.append({"key": "a", "response": {"content": "one"}})
        cache.append({"key": "b", "response": {"content": "two"}})
    shard = next(directory.glob("*.jsonl"))
    shard.write_bytes(shard.read_bytes() + b'{"key": "c", "resp')
    with ResponseCache(directory) as cache:
        assert sorted(cache.entries) == ["a", "b"]
        cache.append({"key": "c", "response": {"content": "three"}})
    assert sorted(ResponseCache(directory).entries) == ["a", "b", "c"]
    assert shard.read_bytes().count(b"\n") == 3 and shard.read_bytes().endswith(b"\n")
    # Appending never writes through a link into someone else's copy (DVC's cache may be linked).
    linked = tmp_path / "linked.jsonl"
    os.link(shard, linked)
    with ResponseCache(directory) as cache:
        cache.append({"key": "d", "response": {}})
    assert linked.read_bytes().count(b"\n") == 3


# --- limits: budget, errors, the key ------------------------------------------------------------


def test_budget_stops_the_run_cleanly_and_a_bigger_one_finishes_it(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = 0.01  # a few requests' worth at the test prices (the whole run costs ~0.04)
    update_openai(teacher_project, max_cost_usd=budget)
    with pytest.raises(UserError, match=r"budget reached: generate\.openai\.max_cost_usd=0\.01"):
        run_generate(teacher_project, monkeypatch)
    teacher = figures(teacher_project)
    assert teacher["stopped_by_budget"] is True
    assert 0 < teacher["cost_usd"] <= budget
    assert 0 < server.completed < REQUESTS and teacher["missing"] == REQUESTS - server.completed
    assert accounted(teacher_project) == REQUESTS  # what did not fit is rejected with the reason
    rejected = read_rows(teacher_project / "data/generate/rejected.jsonl")
    assert sum(r["reasons"][0].startswith("budget_exhausted") for r in rejected) == teacher["missing"]
    # What the server billed, from the usage it returned, stays within the budget too.
    billed = 0.0
    for entry in cache_lines(teacher_project):
        usage, price = entry["response"]["usage"], MODELS[entry["model"]]
        billed += (usage["prompt_tokens"] * price[0] + usage["completion_tokens"] * price[1]) / 1e6
    assert billed <= budget

    cached = len(cache_lines(teacher_project))
    server.reset_counts()
    update_openai(teacher_project, max_cost_usd=10.0)
    run_generate(teacher_project, monkeypatch)
    assert server.arrivals == REQUESTS - cached
    assert figures(teacher_project)["missing"] == 0


def test_a_request_the_server_always_refuses_is_one_rejected_row_and_retried_next_run(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused_seed: list[int] = []

    def refuse_one(body: dict[str, Any]) -> str | None:
        if not refused_seed and "variation" in str(body.get("response_format")):
            refused_seed.append(body["seed"])
        return "http_400" if refused_seed and body["seed"] == refused_seed[0] else None

    server.content_fault = refuse_one
    run_generate(teacher_project, monkeypatch)  # completes: the row is rejected, not the run
    teacher = figures(teacher_project)
    assert teacher["failures"] == 1 and teacher["retries"] == 0  # a 400 is not retried
    rejected = read_rows(teacher_project / "data/generate/rejected.jsonl")
    assert [r["reasons"][0].split(":")[0] for r in rejected] == ["http_400"]
    assert accounted(teacher_project) == REQUESTS
    server.reset_counts()
    run_generate(teacher_project, monkeypatch)  # failures are not cached: only that one is asked again
    assert server.arrivals == 1


def test_an_endpoint_that_only_fails_stops_the_run(teacher_project: Path, server: FakeOpenAIServer) -> None:
    server.faults = dict.fromkeys(range(1, 200), "500")
    with pytest.raises(UserError, match=rf"the first 8 requests to {server.base_url} all failed; last: request_failed"):
        teacher_result(teacher_project)
    assert server.arrivals < 8 * 5 + 4 * 5  # bounded: no endless retry


def test_rate_limiter_paces_requests_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]

    async def fake_sleep(seconds: float) -> None:
        clock[0] += seconds

    monkeypatch.setattr(teacher_limits.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(teacher_limits.asyncio, "sleep", fake_sleep)
    limiter = teacher_limits.RateLimiter(per_minute=120)  # 2 a second, bursts of 2

    async def take(count: int) -> None:
        for _ in range(count):
            await limiter.acquire(1)

    asyncio.run(take(10))
    assert clock[0] == pytest.approx(4.0)  # 2 from the burst, then 8 at 2 a second
    unlimited = teacher_limits.RateLimiter(per_minute=None)
    asyncio.run(unlimited.acquire(10**9))


def test_budget_reservations_never_exceed_the_limit() -> None:
    budget = Budget(1.0)
    assert budget.try_reserve(0.6) and not budget.try_reserve(0.5)
    budget.settle(0.6, 0.2)
    assert budget.try_reserve(0.8) and not budget.try_reserve(0.01)
    assert Budget(None).try_reserve(1e9)


def test_unreachable_endpoint_stops_with_a_clear_error(teacher_project: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    update_openai(teacher_project, base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(UserError, match=rf"cannot reach the teacher endpoint http://127\.0\.0\.1:{port}/v1"):
        teacher_result(teacher_project)


def test_rejected_key_stops_naming_the_endpoint_and_the_key_is_nowhere(teacher_project: Path) -> None:
    with FakeOpenAIServer(api_key="sk-the-server-wants-another-key") as strict:
        update_openai(teacher_project, base_url=strict.base_url)
        result = run_stage("generate", teacher_project, *stage_args(teacher_project), check=False)
        assert result.returncode == 2
        assert f"{strict.base_url} rejected the API key (HTTP 401)" in result.stderr
        assert "Traceback" not in result.stderr
        assert strict.arrivals <= 4  # concurrency: the first answers stop the run, no retry loop
        assert strict.auth_headers[0] == f"Bearer {TEST_API_KEY}"  # the key did go where it belongs
    assert TEST_API_KEY not in result.stdout + result.stderr  # the server echoed it; we did not


def test_missing_key_is_a_user_error(teacher_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(UserError, match="OPENAI_API_KEY is not set"):
        teacher_result(teacher_project)


def test_api_key_reaches_no_output_metrics_cache_or_log(teacher_project: Path, server: FakeOpenAIServer) -> None:
    server.faults = {1: "429", 2: "500"}
    server.content_fault = content_faults
    result = run_stage("generate", teacher_project, *stage_args(teacher_project))
    assert "teacher:" in result.stderr  # the progress/summary lines are what we check
    assert TEST_API_KEY not in result.stdout + result.stderr
    leaks = files_containing(TEST_API_KEY, teacher_project)
    assert leaks == [], leaks
    assert "sk-" not in repr(Endpoint(base_url="http://x", api_key=TEST_API_KEY))


# --- params --------------------------------------------------------------------------------------


def write_generate(path: Path, generate: dict[str, Any]) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["generate"] = generate
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("generate", "message"),
    [
        ({"backend": "anthropic"}, "generate.backend: Input should be 'builtin' or 'openai'"),
        ({"openai": {"max_cost_usd": -1}}, "generate.openai.max_cost_usd: Input should be greater than or equal to 0"),
        ({"openai": {"api_key": "sk-x"}}, "generate.openai: never put the API key in params"),
        ({"openai": {"concurrency": 0}}, "generate.openai.concurrency: Input should be greater than or equal to 1"),
        ({"openai": {"prices": {"api.openai.com": {}}}}, "generate.openai.prices: keys are endpoints (base URLs)"),
        ({"openai": {"trial_seeds": 3, "trial_share": 0.1}}, "trial_seeds and trial_share: set one of them"),
        ({"openai": {"pair_generators": [{"model": "gpt-4o-mini", "template": "reply_concise"}]}},
         "pair_generators: list at least two"),
        ({"openai": {"generators": [{"model": "gpt-4o-mini", "template": "variation_rephrase"}] * 2}},
         "generators: each (model, template) combination may be listed once"),
        ({"openai": {"base_url": "127.0.0.1:8080"}}, "generate.openai: base_url: expected an http(s) URL"),
        ({"openai": {"base_url": "https://user:secret@example.com/v1"}}, "base_url: must not contain credentials"),
        ({"openai": {"generators": [{"model": "gpt-4o-mini", "template": "../etc/passwd"}]}},
         "generate.openai.generators.0.template: String should match pattern"),
    ],
)  # fmt: skip
def test_bad_params_name_the_key(tmp_path: Path, generate: dict[str, Any], message: str) -> None:
    path = write_generate(tmp_path / "params.yaml", generate)
    with pytest.raises(UserError) as error:
        load_section(path, "generate", GenerateParams)
    assert message in str(error.value)
    assert "sk-x" not in str(error.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"list": "generators", "template": "variation_nonexistent"},
         "generate.openai.generators.1.template: no template 'variation_nonexistent' in"),
        ({"list": "generators", "template": "reply_concise"},
         "generate.openai.generators.1.template: 'reply_concise' is a reply template; generators need variation"),
        ({"list": "pair_generators", "template": "variation_persona"},
         "generate.openai.pair_generators.1.template: 'variation_persona' is a variation template"),
    ],
)  # fmt: skip
def test_unknown_or_wrong_kind_template_names_the_key(
    teacher_project: Path, server: FakeOpenAIServer, entry: dict[str, str], message: str
) -> None:
    settings = teacher_settings(server.base_url)
    settings[entry["list"]][1]["template"] = entry["template"]
    update_openai(teacher_project, **{entry["list"]: settings[entry["list"]]})
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        teacher_result(teacher_project)
    assert server.arrivals == 0


def test_a_broken_template_file_is_a_user_error(teacher_project: Path) -> None:
    (teacher_project / "prompts/variation_rephrase.md").write_text(
        "---\nkind: variation\n---\n=== user ===\n{{nope}}\n"
    )
    with pytest.raises(UserError, match=r"variation_rephrase\.md: expected '=== system ==='"):
        teacher_result(teacher_project)
    (teacher_project / "prompts/variation_rephrase.md").write_text(
        "---\nkind: variation\n---\n=== system ===\n{{policy}}\n=== user ===\n{{nope}}\n"
    )
    with pytest.raises(UserError, match=r"unknown placeholder\(s\) \['nope'\]"):
        teacher_result(teacher_project)


@pytest.mark.parametrize("encoding", ["cp1252", "cp1250", "utf-16"])
def test_a_policy_not_in_utf8_is_a_user_error_naming_its_line(teacher_project: Path, encoding: str) -> None:
    """The teacher quotes the policy: one that is not UTF-8 stops the run before any request, in one
    line naming the file, the line and the encoding it looks like (the shared reader), never a traceback."""
    policy = teacher_project / "seeds/policy.md"
    lines = policy.read_text(encoding="utf-8").splitlines()
    lines[2] = "Déjà vu: Łódź, café, naïve, 20 € fee."
    policy.write_bytes("\n".join(lines).encode(encoding, errors="replace"))
    with pytest.raises(UserError) as raised:
        teacher_result(teacher_project)
    message = str(raised.value)
    assert message.startswith(f"{policy}:") and "\n" not in message, message
    assert "UTF-8" in message, message


# --- pure functions --------------------------------------------------------------------------------


def test_weighted_assignment_follows_weights_and_survives_a_new_generator() -> None:
    a = TeacherGenerator(model="m1", template="t1", weight=3)
    b = TeacherGenerator(model="m2", template="t2", weight=1)
    c = TeacherGenerator(model="m3", template="t3", weight=1)
    slots = [(f"seed{i}", f"variation-{v}") for i in range(2000) for v in range(2)]
    before = {slot: pick_generators([a, b], 7, *slot, 1)[0].identity for slot in slots}
    share = Counter(before.values())["m1|t1"] / len(slots)
    assert 0.72 < share < 0.78  # weight 3 of 4
    after = {slot: pick_generators([a, b, c], 7, *slot, 1)[0].identity for slot in slots}
    moved = [slot for slot in slots if before[slot] != after[slot]]
    assert all(after[slot] == "m3|t3" for slot in moved)  # rows only move to the new generator
    assert 0.15 < len(moved) / len(slots) < 0.25  # about its share, 1 of 5
    # Temperature and weight are not part of the identity: tuning them moves nothing.
    warmer = TeacherGenerator(model="m2", template="t2", weight=1, temperature=1.3)
    assert all(pick_generators([a, warmer], 7, *s, 1)[0].identity == before[s] for s in slots[:200])


def test_retry_delay_backs_off_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(1)
    delays = [retry_delay(attempt, 1.0, 30.0, None, rng) for attempt in range(1, 7)]
    for attempt, delay in enumerate(delays, start=1):
        backoff = min(30.0, 2 ** (attempt - 1))
        assert backoff / 2 <= delay <= backoff
    assert retry_delay(1, 0.01, 30.0, 5.0, rng) >= 5.0  # the server's retry-after wins over a short backoff
    assert retry_delay(1, 0.01, 2.0, 60.0, rng) <= 2.0 * 1.1  # but never past backoff_max_s (+ jitter)
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert parse_retry_after({}) is None and parse_retry_after({"retry-after": "soon"}) is None


def test_rate_limit_headers_are_read_in_every_format_servers_use() -> None:
    assert parse_reset("20ms") == pytest.approx(0.02)
    assert parse_reset("1s") == 1.0 and parse_reset("6m0s") == 360.0
    assert parse_reset("1h2m3.5s") == pytest.approx(3723.5)
    assert parse_reset("0.75") == 0.75  # bare seconds
    assert 3.0 < parse_reset(str(time.time() + 5)) <= 5.0  # a Unix time
    assert 3.0 < parse_reset(str(int((time.time() + 5) * 1000))) <= 5.0  # a Unix time in milliseconds
    for unreadable in (None, "", "soon", "5 parsecs", "1s garbage", "nan"):
        assert parse_reset(unreadable) is None, unreadable
    spent = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s",
             "x-ratelimit-remaining-tokens": "90000", "x-ratelimit-reset-tokens": "6s"}  # fmt: skip
    assert rate_limit_pause(spent, next_tokens=2000) == 1.0
    assert rate_limit_pause({**spent, "x-ratelimit-remaining-tokens": "1500"}, next_tokens=2000) == 6.0
    assert rate_limit_pause({**spent, "x-ratelimit-remaining-requests": "3"}, next_tokens=2000) is None
    assert rate_limit_pause({"x-ratelimit-remaining-requests": "0"}, next_tokens=1) is None  # no reset given
    assert rate_limit_pause({}, next_tokens=1) is None and rate_limit_pause(None, next_tokens=1) is None


def test_spent_rate_limit_window_pauses_requests_instead_of_drawing_429s(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server allows 12 requests per 0.5 s and says so in OpenAI's x-ratelimit headers, with no
    retry-after on its 429s; params set no rpm limit. One worker reads the headers and waits for
    each window to reset, so no request is refused."""
    server.requests_per_window, server.window_s = 12, 0.5
    update_openai(teacher_project, concurrency=1)
    run_generate(teacher_project, monkeypatch)
    teacher = figures(teacher_project)
    assert server.fault_counts["window_429"] == 0
    assert teacher["retries"] == 0 and teacher["missing"] == 0 and teacher["requests_sent"] == REQUESTS
    assert 1 <= teacher["rate_limit_pauses"] <= REQUESTS // 12  # one per spent window


def test_429_without_retry_after_waits_for_the_window_reset(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four workers overrun the window (each sends before the others' answers say it is spent): the
    429s carry only x-ratelimit headers, each costs one retry, and every request still succeeds."""
    server.requests_per_window, server.window_s = 12, 0.5
    update_openai(teacher_project, concurrency=4, max_retries=3)
    run_generate(teacher_project, monkeypatch)
    teacher = figures(teacher_project)
    assert teacher["retries"] == server.fault_counts["window_429"]
    assert teacher["failures"] == 0 and teacher["missing"] == 0 and teacher["requests_sent"] == REQUESTS
    assert accounted(teacher_project) == REQUESTS


def test_answers_are_parsed_leniently_and_rejected_with_reasons() -> None:
    turns = [{"role": "user", "content": "hi  there"}, {"role": "assistant", "content": "Hello!"}]
    expected = [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "Hello!"}]
    for text in (
        json.dumps({"messages": turns}),
        "Sure:\n```json\n" + json.dumps({"messages": turns}) + "\n```",
        "Here it is " + json.dumps({"messages": turns}) + " cheers",
    ):
        assert parse_answer(text, "variation") == Parsed(expected, None, False)
    assert parse_answer('{"reply": " Sure. "}', "reply") == Parsed([{"role": "assistant", "content": "Sure."}], None)
    bad = {
        "no json here": "unparseable",
        '{"messages": [{"role": "user", "content": "a"}]}': "invalid_answer",
        '{"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]}': "invalid_answer",
        '{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "b"}]}': "invalid_answer",
        '{"text": "hi"}': "invalid_answer",
    }
    for text, code in bad.items():
        parsed = parse_answer(text, "variation")
        assert parsed.turns is None and parsed.reason is not None and parsed.reason.startswith(code), (text, parsed)
    assert parse_answer('{"reply": 3}', "reply").reason.startswith("invalid_answer")
    assert response_problem({"content": "{}", "finish_reason": "length"}).startswith("truncated")
    assert response_problem({"content": None, "refusal": "No.", "finish_reason": "stop"}).startswith("refusal")
    assert response_problem({"content": " ", "finish_reason": "stop"}).startswith("empty_answer")
    assert response_problem({"content": "{}", "finish_reason": "stop"}) is None


def test_cost_figures_add_up_per_model_and_template(teacher_project: Path, server: FakeOpenAIServer) -> None:
    result = teacher_result(teacher_project)
    teacher = result.metrics["teacher"]
    for group in ("by_model", "by_template"):
        parts = teacher[group].values()
        for figure in ("requests", "answered", "prompt_tokens", "completion_tokens"):
            assert sum(part[figure] for part in parts) == teacher[figure], (group, figure)
        assert math.isclose(sum(p["dataset_cost_usd"] for p in parts), teacher["dataset_cost_usd"], abs_tol=1e-5)
    assert set(teacher["by_model"]) == {"teacher-a", "teacher-b"}
    assert set(teacher["by_template"]) == {"variation_rephrase", "variation_persona", "reply_concise", "reply_thorough"}
    assert teacher["prompt_tokens"] > 0
    assert math.isclose(result.run["cost_usd"], teacher["dataset_cost_usd"], abs_tol=1e-5)


# --- the whole pipeline through DVC ----------------------------------------------------------------


def project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    skip = ("data/", "metrics/", ".dvc/cache", ".dvc/tmp", "dvc.lock")
    return [name for name in listed if (ROOT / name).is_file() and not name.startswith(skip)]


@pytest.mark.dvc
def test_dvc_repro_runs_the_whole_pipeline_on_the_teacher_backend(tmp_path: Path, server: FakeOpenAIServer) -> None:
    repo = tmp_path / "repo"
    for name in project_files():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    make_project(repo)  # the small seed set and taxonomy, over the copied repository
    set_generate(repo, server.base_url, variations=VARIATIONS)
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "teacher backend"], repo)

    first = run(["dvc", "repro"], repo)
    assert "Running stage 'generate'" in first.stdout and "Running stage 'mix'" in first.stdout
    assert server.arrivals == REQUESTS
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    outs = {out["path"] for out in lock["stages"]["generate"]["outs"]}
    assert {"data/generate/cache", "data/generate/pairs.jsonl"} <= outs
    mix = read_rows(repo / "data/mix/rows.jsonl")
    assert any(row["source"] == "synthetic" and row["provenance"]["generator"] == "openai" for row in mix)
    outputs = output_bytes(repo)

    # Forced rerun of generate: DVC keeps the persisted cache, so nothing is sent and no tracked file
    # changes (metrics describe the data; what the run did goes to the untracked run log).
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "first build"], repo)
    server.reset_counts()
    forced = run(["dvc", "repro", "-f", "-s", "generate"], repo)
    assert server.arrivals == 0 and output_bytes(repo) == outputs
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
    assert (repo / "logs/generate_runs.jsonl").read_text().count("\n") == 2

    # (That a params change re-requests only the rows it affects is checked in-process above.)
    logs = "".join(r.stdout + r.stderr for r in (first, forced))
    assert TEST_API_KEY not in logs
    stored = [repo / "data", repo / "metrics", repo / "dvc.lock", repo / "params.yaml", repo / ".dvc/cache"]
    assert files_containing(TEST_API_KEY, *stored) == []
