"""Stage filter: each check rejects what it should, with a reason; nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

from stages.common.checks import BlocklistCheck, LengthCheck, build_checks, compile_blocklist, run_checks
from stages.common.params import FilterParams, GenerateParams
from stages.filter import filter_metrics, filter_rows
from stages.generate import generate_builtin
from tests.conftest import ROOT, read_rows, run_stage


def _synthetic(project: Path) -> list[dict]:
    run_stage("seed", project)
    rows, _ = generate_builtin(read_rows(project / "data/seed/seeds.jsonl"), GenerateParams(variations_per_seed=2))
    return rows


def _with_reply(row: dict, reply: str) -> dict:
    messages = [dict(m) for m in row["messages"]]
    messages[-1]["content"] = reply
    return {**row, "messages": messages}


def test_length_check() -> None:
    check = LengthCheck(min_user=5, max_user=20, min_assistant=5, max_assistant=30)
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]}
    assert check(row) == "user_too_short: 2 < 5 chars"
    row["messages"][0]["content"] = "x" * 25
    assert check(row) == "user_too_long: 25 > 20 chars"
    row["messages"][0]["content"] = "fine question"
    row["messages"][1]["content"] = "y" * 31
    assert check(row) == "assistant_too_long: 31 > 30 chars"


def test_blocklist_matches_whole_phrases_only() -> None:
    check = BlocklistCheck(compile_blocklist(["as an ai", "idiot"]))
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "As an AI, I cannot."}]}
    assert check(row) == "blocklist: as an ai"
    row["messages"][1]["content"] = "Idiotic fees are not something we charge."
    assert check(row) is None


def test_filter_keeps_every_rejected_row_with_reasons(project: Path) -> None:
    rows = _synthetic(project)
    bad_schema = {**rows[0], "source": "alien"}
    blocked = _with_reply(rows[1], "As an AI language model I guarantee nothing. " * 2)
    too_long = _with_reply(rows[2], "word " * 400)
    checks = build_checks(FilterParams(), ROOT / "seeds/blocklist.txt")
    kept, rejected = filter_rows([bad_schema, blocked, too_long, *rows[3:]], checks)
    assert len(kept) + len(rejected) == len(rows)
    reasons = {row["id"]: row["reasons"] for row in rejected}
    assert reasons[bad_schema["id"]][0].startswith("schema: source")
    assert reasons[blocked["id"]] == ["blocklist: as an ai"]
    assert reasons[too_long["id"]][0].startswith("assistant_too_long")
    metrics = filter_metrics(kept, rejected)
    assert metrics["by_reason"] == {"assistant_too_long": 1, "blocklist": 1, "schema": 1}
    assert sum(s["rejected"] for s in metrics["slices"].values()) == 3
    assert sum(t["rows"] for t in metrics["templates"].values()) == len(rows)


def test_checks_can_be_switched_off(project: Path) -> None:
    rows = _synthetic(project)
    blocked = _with_reply(rows[0], "As an AI I cannot help you with this request today, sorry.")
    checks = build_checks(FilterParams(checks=["schema", "length"]), ROOT / "seeds/blocklist.txt")
    assert run_checks(blocked, checks) == []


def test_filter_stage_outputs(project: Path) -> None:
    run_stage("seed", project)
    run_stage("generate", project)
    run_stage("filter", project)
    kept = read_rows(project / "data/filter/kept.jsonl")
    rejected = read_rows(project / "data/filter/rejected.jsonl")
    generated = read_rows(project / "data/generate/rows.jsonl")
    assert len(kept) + len(rejected) == len(generated)
    metrics = json.loads((project / "metrics/filter.json").read_text())
    assert metrics["kept"] == len(kept) and metrics["rows"] == len(generated)


def test_missing_blocklist_is_a_clear_error(project: Path) -> None:
    run_stage("seed", project)
    run_stage("generate", project)
    result = run_stage("filter", project, "--blocklist", "seeds/nope.txt", check=False)
    assert result.returncode == 2 and "seeds/nope.txt: blocklist file not found" in result.stderr
