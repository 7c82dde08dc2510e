"""Issue 12, kind 3: human edits and seed replies pass the same gates as generated rows.

The filter checks every reviewer edit and every seed row (data/filter/human.jsonl); review keeps a
failing edit out (status edit_failed, counted in metrics/review.json); mix leaves failing seeds and
failed edits out of train.jsonl, eval.jsonl and the preference pairs, each with its reason.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from stages.core.decisions import edit_key
from tests.conftest import CRITICAL, read_rows, run_stage

GOOD_FIX = "Thanks for waiting. Open the app, go to Help and follow the steps there; an agent can help too."
BAD_EDITS = {  # the reason code each edit fails with
    "pii": "Please call me on +44 20 7946 0958 or write to jane.doe@example.com and I will sort it out.",
    "assistant_too_long": "Open the app and follow the steps. " * 3700,  # ~129k characters
    "policy_facts": "I have cancelled the order for you already, so there is nothing more to do.",
}


def _through(project: Path, last: str) -> None:
    for stage in ("seed", "generate", "filter", "dedup", "review", "mix"):
        run_stage(stage, project)
        if stage == last:
            return


def _write_decisions(project: Path, records: list[list[str]]) -> None:
    with (project / "seeds/reviews/decisions.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["id", "verdict", "reason", "corrected_reply", "reviewer", "note"], *records])


def _training_text(project: Path) -> str:
    return "".join(
        (project / "data/mix" / name).read_text() for name in ("train.jsonl", "eval.jsonl", "preferences.jsonl")
    )


def test_failing_edits_are_reported_and_kept_out_of_the_mix(project: Path) -> None:
    _through(project, "review")
    queue = read_rows(project / "data/review/queue.jsonl")
    by_intent = {row["intent"]: row for row in queue if row["slice"] in CRITICAL}
    rows = list(by_intent.values())
    assert len(rows) >= 4
    bad = dict(zip(BAD_EDITS, rows, strict=False))
    good = rows[3]
    _write_decisions(project, [[row["id"], "edit", "", BAD_EDITS[code], "JL", ""] for code, row in bad.items()]
                     + [[good["id"], "edit", "", GOOD_FIX, "JL", ""]])  # fmt: skip
    run_stage("filter", project)
    verdicts = {r["id"]: r for r in read_rows(project / "data/filter/human.jsonl") if r["kind"] == "edit"}
    for code, row in bad.items():
        assert verdicts[row["id"]]["reasons"][0].split(":")[0] == code, verdicts[row["id"]]
        assert verdicts[row["id"]]["key"] == edit_key(row["id"], BAD_EDITS[code].strip())
    assert verdicts[good["id"]]["reasons"] == []
    filter_metrics = json.loads((project / "metrics/filter.json").read_text())["human_text"]
    assert filter_metrics["edits"] == 4 and filter_metrics["edits_rejected"] == 3

    review = run_stage("review", project)
    assert review.stderr.count("the edit fails the filter's checks") == 3
    reviewed = {row.get("edited_from", row["id"]): row for row in read_rows(project / "data/review/rows.jsonl")}
    assert {reviewed[row["id"]]["review"]["status"] for row in bad.values()} == {"edit_failed"}
    assert reviewed[good["id"]]["review"]["status"] == "edited"
    metrics = json.loads((project / "metrics/review.json").read_text())
    assert metrics["edit_failed"] == 3 and metrics["edited"] == 1

    run_stage("mix", project)
    mixed = {row.get("edited_from", row["id"]) for row in read_rows(project / "data/mix/rows.jsonl")}
    assert good["id"] in mixed and not {row["id"] for row in bad.values()} & mixed
    removed = {row["id"]: row["reasons"][0] for row in read_rows(project / "data/mix/removed.jsonl")}
    for row in bad.values():
        assert removed[row["id"]].startswith("edit_failed: the edit by JL fails the filter's checks")
    text = _training_text(project)
    assert "jane.doe@example.com" not in text and "I have cancelled" not in text and len(text) < 500_000
    assert json.loads((project / "metrics/mix.json").read_text())["removed_by_rule"]["edit_failed"] == 3


def test_an_edit_the_filter_has_not_checked_stops_review(project: Path) -> None:
    _through(project, "review")
    row = read_rows(project / "data/review/queue.jsonl")[0]
    _write_decisions(project, [[row["id"], "edit", "", GOOD_FIX, "JL", ""]])
    result = run_stage("review", project, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "decisions.csv:2: field 'corrected_reply': not checked by the filter stage yet" in result.stderr


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("Write to help@example.com and we will look at it for you today, thanks for waiting.", "pii"),
        ("Open the app and follow the steps shown there. " * 6000, "assistant_too_long"),  # ~300k characters
        ("As an AI language model I cannot help with that, but please open the app and check.", "blocklist"),
    ],
)
def test_seed_rows_that_fail_the_checks_stay_out_of_the_mix(project: Path, reply: str, code: str) -> None:
    path = project / "seeds/failures.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[0]["messages"][-1]["content"] = reply
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    _through(project, "mix")
    verdicts = [r for r in read_rows(project / "data/filter/human.jsonl") if r["kind"] == "seed" and r["reasons"]]
    assert [r["case_id"] for r in verdicts] == [lines[0]["case_id"]] and verdicts[0]["reasons"][0].startswith(code)
    removed = [row for row in read_rows(project / "data/mix/removed.jsonl") if row["source"] == "human"]
    assert [row["case_id"] for row in removed] == [lines[0]["case_id"]]
    place = f"seeds/failures.jsonl:1 (case {lines[0]['case_id']})"  # the seed stage's where.jsonl
    assert removed[0]["reasons"][0].startswith(f"human_checks: seed {place} fails the filter's checks")
    assert reply.strip()[:60] not in _training_text(project)  # neither as a row nor as a preference pair
    metrics = json.loads((project / "metrics/mix.json").read_text())
    assert metrics["removed_by_rule"]["human_checks"] == 1 and metrics["failure_pairs"]["kept"] == len(lines) - 1
