"""What real servers do to the teacher backend: refused response formats, context limits, almost-JSON
answers, another endpoint behind the same model name; and trial runs, progress and reruns.

The real openai SDK over real HTTP against tests/openai_server.py (which refuses formats and
enforces a context size the way llama.cpp does). No test asserts timings.
"""

# ruff: noqa: F811  (the fixtures imported from tests.test_teacher are redefined as test arguments)
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from stages.core.errors import UserError
from stages.core.rows import schema_problem
from stages.generate.params import FREE, OpenAIParams, normalise_base_url
from stages.generate.teacher.answers import parse_answer
from stages.generate.teacher.policy import PolicyIndex
from stages.generate.teacher.run import endpoint_prices
from tests import openai_server
from tests.conftest import ROOT, read_rows, run_stage
from tests.openai_server import TEST_API_KEY, FakeOpenAIServer
from tests.test_teacher import (  # noqa: F401  (fixtures: api_key, seeded_template, server, teacher_project)
    PAIR_SEEDS,
    REQUESTS,
    SEEDS,
    VARIATIONS,
    api_key,
    cache_lines,
    figures,
    metrics,
    run_generate,
    seeded_template,
    server,
    teacher_project,
    teacher_result,
    teacher_settings,
    update_openai,
)

# --- structured output that negotiates ---------------------------------------------------------


@pytest.mark.parametrize(
    ("refused", "reached"),
    [({"json_schema"}, "json_object_schema"),
     ({"json_schema", "json_object+schema"}, "json_object"),
     ({"json_schema", "json_object+schema", "json_object"}, "text")],
)  # fmt: skip
def test_a_refused_response_format_steps_down_and_is_remembered(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, refused: set[str], reached: str
) -> None:
    server.refused_formats = refused
    run_generate(teacher_project, monkeypatch)
    run = figures(teacher_project)
    assert run["failures"] == 0 and run["retries"] == 0 and run["missing"] == 0  # a step down is not a retry
    assert run["by_response_format"] == {reached: REQUESTS}
    rows = read_rows(teacher_project / "data/generate/rows.jsonl")
    assert {row["provenance"]["response_format"] for row in rows} == {reached}
    refusals = sum(server.response_formats[name] for name in refused)
    assert refusals <= 2 * len(refused) * 4  # two models, each refused at most once per worker (4) per mode
    facts = json.loads((teacher_project / "data/generate/cache/endpoint_facts.json").read_text())
    assert {fact["response_format"] for fact in facts.values()} == {reached}
    assert all(key.startswith(server.base_url + "|") for key in facts)

    # The next requests (here: one more variation per seed) go straight to the mode that worked.
    server.reset_counts()
    params = yaml.safe_load((teacher_project / "params.yaml").read_text())
    params["generate"]["variations_per_seed"] = VARIATIONS + 1
    (teacher_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_generate(teacher_project, monkeypatch)
    assert server.arrivals == SEEDS and not any(server.response_formats[name] for name in refused)


def test_every_format_refused_is_a_failed_request_with_the_full_reason(
    teacher_project: Path, server: FakeOpenAIServer
) -> None:
    server.refused_formats = {"json_schema", "json_object+schema", "json_object", "none"}
    progress = io.StringIO()
    with pytest.raises(UserError, match="all failed"):
        teacher_result(teacher_project, progress)
    # The first failing request's reason, in full (not clipped), so a user sees why.
    assert "teacher: first failed request: HTTP 500: 1 validation error:" in progress.getvalue()
    assert "Input should be 'text' or 'json_object'" in progress.getvalue()


# --- prompts that fit ----------------------------------------------------------------------------


POLICY = """# Example policy

General rules for every answer. Be brief.

## 1. Accounts

1.1 **Opening.** Accounts open in 2 days.

1.2 **Closing.** Closing takes 5 days; see 1.1 for reopening. A fee of 0.5% or £1.5 applies.

## 2. Payments

2.1 **Limits.** Payments up to 100 a day.

## Facts

- opening: 2 days
"""


def test_policy_excerpts_quote_the_named_rules_at_each_level() -> None:
    policy = PolicyIndex(POLICY)
    cited = policy.quote(["1.2"], "cited")
    assert "General rules" in cited and "1.2 **Closing.**" in cited and "1.1 **Opening.**" in cited
    assert "2.1" not in cited and "## 2. Payments" not in cited  # (0.5 and 1.5 are amounts, not rules)
    named = policy.quote(["1.2"], "named")
    assert "General rules" in named and "1.1 **Opening.**" not in named
    rules = policy.quote(["1.2", "2"], "rules")
    assert "General rules" not in rules and "## 2. Payments\n\n2.1 **Limits.**" in rules
    assert policy.quote([], "cited") == POLICY.strip()  # no refs: the whole policy ...
    assert (
        policy.quote(["9.9"], "named") == "# Example policy\n\nGeneral rules for every answer. Be brief."
    )  # ... or less
    assert policy.known(["1.1", "2", "7.7"]) == ["1.1", "2"]


def test_prompts_quote_the_policy_rules_the_seed_names_not_the_whole_policy(
    teacher_project: Path, server: FakeOpenAIServer
) -> None:
    teacher_result(teacher_project)
    policy = (teacher_project / "seeds/policy.md").read_text()
    usage = [entry["response"]["usage"]["prompt_tokens"] for entry in cache_lines(teacher_project)]
    whole_policy_tokens = len(policy) // 4  # as the test server counts
    assert max(usage) < whole_policy_tokens / 3  # the seeds name one rule (1.1)
    assert metrics_of(teacher_project)["prompt_tokens_per_request"]["max"] == max(usage)


def metrics_of(project: Path) -> dict[str, Any]:
    return teacher_result(project).metrics["teacher"]


def test_a_context_size_in_params_shrinks_prompts_to_fit(teacher_project: Path, server: FakeOpenAIServer) -> None:
    server.context_tokens = 900  # enforced by the server as llama.cpp does
    settings = teacher_settings(server.base_url)
    for entry in settings["generators"] + settings["pair_generators"]:
        entry["context_tokens"] = 900
    update_openai(teacher_project, generators=settings["generators"], pair_generators=settings["pair_generators"])
    result = teacher_result(teacher_project)
    assert result.run["failures"] == 0 and result.metrics["teacher"]["missing"] == 0
    assert server.fault_counts == Counter()  # not one request over the context was sent
    assert len(result.rows) + len(result.rejected) == SEEDS * VARIATIONS


def test_a_context_size_the_server_reports_is_learned_and_the_rest_is_shrunk(
    teacher_project: Path, server: FakeOpenAIServer
) -> None:
    server.context_tokens = 900  # params say nothing: the server's HTTP 400 tells
    result = teacher_result(teacher_project)
    assert result.run["contexts_learned"] >= 1 and result.metrics["teacher"]["missing"] == 0
    facts = json.loads((teacher_project / "data/generate/cache/endpoint_facts.json").read_text())
    assert {fact.get("context_tokens") for fact in facts.values()} == {900}
    assert len(result.rows) + len(result.rejected) + 2 * len(result.pairs) == REQUESTS
    # The first requests that hit the limit are rejected with the server's words; the rest were shrunk.
    too_long = [r for r in result.rejected if r["reasons"][0].startswith("context_exceeded")]
    assert len(too_long) <= 8 and all("maximum context length is 900 tokens" in r["reasons"][0] for r in too_long)


def test_a_seed_that_cannot_fit_is_a_recorded_rejection_and_nothing_is_sent(
    teacher_project: Path, server: FakeOpenAIServer
) -> None:
    settings = teacher_settings(server.base_url)
    for entry in settings["generators"] + settings["pair_generators"]:
        entry["context_tokens"] = 300
    update_openai(teacher_project, generators=settings["generators"], pair_generators=settings["pair_generators"])
    result = teacher_result(teacher_project)
    assert server.arrivals == 0
    assert result.metrics["teacher"]["unfit"] == REQUESTS and not result.rows
    assert all(r["reasons"][0].startswith("context_exceeded: the prompt needs ~") for r in result.rejected)
    assert "over the 300-token context of teacher-" in result.rejected[0]["reasons"][0]


# --- answers that are almost JSON ----------------------------------------------------------------

ALMOST_JSON = [
    '{"reply": "Open the app.",}',  # trailing comma
    '{"reply": "Open the app.\nThen tap Help."}',  # raw newline inside a string
    "{'reply': 'Open the app.'}",  # single quotes
    '{"reply": "Open the app." ',  # the closing brace missing (the answer was not cut off: finish stop)
    'Sure! {"reply": "Open the app.", } Hope that helps',  # prose around a broken object
]


@pytest.mark.parametrize("text", ALMOST_JSON)
def test_almost_json_is_repaired_and_says_so(text: str) -> None:
    parsed = parse_answer(text, "reply")
    assert parsed.reason is None and parsed.repaired, parsed
    assert parsed.turns[0]["content"].startswith("Open the app.")


def test_repair_does_not_invent_an_answer() -> None:
    for text in ("no json here", "messages = [user: hi, assistant: hello", "{}", "{,}"):
        parsed = parse_answer(text, "reply")
        assert parsed.turns is None and parsed.reason is not None, text
    assert not parse_answer('{"reply": "fine"}', "reply").repaired  # valid JSON is not "repaired"


def test_repaired_answers_become_rows_with_provenance_saying_so(
    teacher_project: Path, server: FakeOpenAIServer
) -> None:
    server.content_fault = lambda body: "almost_json" if body["seed"] % 3 == 0 else None
    result = teacher_result(teacher_project)
    rows = result.rows + [c for pair in result.pairs for c in pair["candidates"]]
    repaired = [row for row in rows if row["provenance"]["json_repaired"]]
    assert repaired and all(schema_problem(row) is None for row in repaired)
    assert result.metrics["teacher"]["json_repaired"] >= len(repaired)
    assert not [r for r in result.rejected if r["reasons"][0].startswith("unparseable")]


# --- the endpoint is part of what an answer is -----------------------------------------------------


def test_a_cache_written_by_one_server_never_answers_for_another(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = teacher_result(teacher_project)
    assert {row["provenance"]["endpoint"] for row in first.rows} == {server.base_url}
    with FakeOpenAIServer() as other:  # same model names, another server
        update_openai(
            teacher_project,
            base_url=None,
            prices={other.base_url: teacher_settings("")["prices"]["http://127.0.0.1/v1"]},
        )
        monkeypatch.setenv("OPENAI_BASE_URL", other.base_url + "/")  # from the environment, as users switch
        second = teacher_result(teacher_project)
        assert other.arrivals == REQUESTS and second.run["cache_hits"] == 0
    assert {row["provenance"]["endpoint"] for row in second.rows} == {other.base_url}
    assert len(cache_lines(teacher_project)) == 2 * REQUESTS


def test_endpoints_are_normalised_and_priced_per_endpoint(tmp_path: Path) -> None:
    assert normalise_base_url("HTTP://User:Pw@LocalHost:80/v1/?x=1") == "http://localhost/v1"
    assert normalise_base_url("https://api.openai.com:443/v1") == "https://api.openai.com/v1"
    assert normalise_base_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"
    settings = OpenAIParams()  # priced for api.openai.com only
    local = endpoint_prices(settings, "http://127.0.0.1:8080/v1", tmp_path / "params.yaml")
    assert set(local.values()) == {FREE}  # a local server is not billed at OpenAI's rates
    remote = endpoint_prices(settings, "https://api.openai.com/v1", tmp_path / "params.yaml")
    assert remote["gpt-4o-mini"].input_per_1m == 0.15
    with pytest.raises(UserError, match=r"no price for model 'gpt-4o-mini' at https://example\.com/v1"):
        endpoint_prices(settings, "https://example.com/v1", tmp_path / "params.yaml")


# --- trial runs, progress, reruns ---------------------------------------------------------------


@pytest.mark.parametrize(("trial", "seeds"), [({"trial_seeds": 4}, 4), ({"trial_share": 0.5}, 15)])
def test_a_trial_runs_the_first_seeds_of_several_intents_and_the_pipeline_stays_valid(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, trial: dict, seeds: int
) -> None:
    update_openai(teacher_project, **trial)
    run_generate(teacher_project, monkeypatch)
    rows = read_rows(teacher_project / "data/generate/rows.jsonl")
    rejected = read_rows(teacher_project / "data/generate/rejected.jsonl")
    used = {row["seed_id"] for row in rows + rejected}
    assert len(used) == seeds and len({row["intent"] for row in rows + rejected}) == min(seeds, 6)
    assert figures(teacher_project)["requests"] < REQUESTS
    for stage in ("filter", "dedup", "review", "mix"):  # the rest of the pipeline runs on the trial's rows
        run_stage(stage, teacher_project)
    assert read_rows(teacher_project / "data/filter/kept.jsonl")  # the teacher's rows pass the filter
    assert read_rows(teacher_project / "data/mix/train.jsonl")


def test_the_filter_rejects_a_teachers_word_salad_and_keeps_its_other_variations(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half the requests answered with nine content words before the customer's turn (the server's
    "word_salad" fault, which was its every answer until the filter had a word_salad check)."""
    server.content_fault = lambda body: "word_salad" if body["seed"] % 2 else None
    run_generate(teacher_project, monkeypatch)
    run_stage("filter", teacher_project)
    kept = read_rows(teacher_project / "data/filter/kept.jsonl")
    rejected = read_rows(teacher_project / "data/filter/rejected.jsonl")
    salad = {row["id"] for row in kept + rejected if row["provenance"]["sampling_seed"] % 2}
    assert 0 < len(salad) < len(kept + rejected)
    reasons = {row["id"]: row["reasons"] for row in rejected}
    assert {row["id"] for row in rejected if reasons[row["id"]][0].startswith("word_salad: user text has 9 words")} == (
        salad
    )
    assert all(reasons[row_id] == [reasons[row_id][0]] for row_id in salad)  # no other check saw a fault
    assert {row["id"] for row in kept} == {row["id"] for row in kept + rejected} - salad  # the good answers pass


def test_progress_shows_counts_rate_and_eta_and_the_exit_line_says_a_rerun_resumes(
    teacher_project: Path, server: FakeOpenAIServer
) -> None:
    update_openai(teacher_project, max_cost_usd=0.01)
    progress = io.StringIO()
    teacher_result(teacher_project, progress)
    text = progress.getvalue()
    assert "teacher:" in text and "cached 0, sent" in text and "failed 0" in text and "req/s" in text
    assert "<" in text  # tqdm's elapsed<remaining: the ETA
    assert "finished answers are kept in" in text and "A rerun (`dvc repro`) resumes" in text
    assert TEST_API_KEY not in text


def test_a_fully_cached_rerun_leaves_metrics_byte_identical(
    teacher_project: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_generate(teacher_project, monkeypatch)
    tracked = {p: p.read_bytes() for p in [teacher_project / "metrics/generate.json",
               *sorted((teacher_project / "data/generate").rglob("*.json*"))]}  # fmt: skip
    server.reset_counts()
    run_generate(teacher_project, monkeypatch)
    assert server.arrivals == 0
    assert {p: p.read_bytes() for p in tracked} == tracked  # metrics, outputs, cache, facts: unchanged
    runs = (teacher_project / "logs/generate_runs.jsonl").read_text().splitlines()
    assert [json.loads(line)["requests_sent"] for line in runs] == [REQUESTS, 0]  # the run log says what ran
    assert metrics(teacher_project)["teacher"]["answered"] == REQUESTS + 0 * PAIR_SEEDS


def test_a_copied_project_reads_another_machines_cache(teacher_project: Path, server: FakeOpenAIServer) -> None:
    teacher_result(teacher_project)
    clone = teacher_project.parent / "clone"
    shutil.copytree(teacher_project, clone)
    server.reset_counts()
    assert teacher_result(clone).run["cache_hits"] == REQUESTS and server.arrivals == 0


def test_the_fake_server_runs_standalone_as_its_docstring_says() -> None:
    """The standalone command and the client settings of tests/openai_server.py's docstring, used as written."""
    doc = openai_server.__doc__ or ""
    command = re.search(r"^\s+(python -m tests\.openai_server[^#\n]*?)\s+#", doc, re.MULTILINE)
    exports = dict(re.findall(r"^\s+export (OPENAI_\w+)=(\S+)$", doc, re.MULTILINE))
    assert command and set(exports) == {"OPENAI_API_KEY", "OPENAI_BASE_URL"}, doc
    assert exports["OPENAI_API_KEY"] == TEST_API_KEY
    args = [sys.executable, *command.group(1).split()[1:]]
    with subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            port = (process.stdout.readline() if process.stdout else "").removeprefix("PORT ").strip()
            base_url = exports["OPENAI_BASE_URL"].replace("<n>", port)
            message = [{"role": "user", "content": "Where is my order?"}]
            client = openai.OpenAI(api_key=exports["OPENAI_API_KEY"], base_url=base_url, max_retries=0)
            answer = client.chat.completions.create(model="teacher-a", messages=message)
            assert answer.choices[0].message.content
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(api_key="sk-other", base_url=base_url, max_retries=0).chat.completions.create(
                    model="teacher-a", messages=message
                )
        finally:
            process.terminate()
