"""Issue 12, kind 5: preference pairs that teach nothing, from every source.

Logged failures (refused at the seed stage, dropped at mix) and teacher pairs (dropped at mix) are
compared after normalisation and by near-duplicate similarity.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stages.mix.formats import chat_record, preference_record_problem
from stages.mix.preferences import choose_pair, failure_preferences
from tests.conftest import run_stage

SYSTEM = "You are the support assistant of a test product."
CORRECTED = "You can order a new one in the app. It arrives in 3 to 5 working days; the charge is $5."
SAME_ONCE_NORMALISED = [
    "You can order a new one in the app.  It arrives in 3 to 5 working days;\n the charge is $5.",  # spacing
    "YOU CAN ORDER A NEW ONE IN THE APP. IT ARRIVES IN 3 TO 5 WORKING DAYS; THE CHARGE IS $5.",  # case
    "You can order a new one in the app - it arrives in 3 to 5 working days, the charge is $5!",  # punctuation
    "You can order a new one in the app.\u200b It arrives in 3 to 5 working days; the charge is $5.",  # invisible
    "You can order a new one in the app. It arrives in 3 to 5 working days; the charge is $5.\u00a0",  # nbsp
]


def _failure(failed: str) -> dict:
    return {"origin": "failure", "messages": [{"role": "user", "content": "Where is my parcel?"},
            {"role": "assistant", "content": CORRECTED}], "meta": {"failed_reply": failed}}  # fmt: skip


@pytest.mark.parametrize("failed", SAME_ONCE_NORMALISED)
def test_failures_whose_replies_match_once_normalised_give_no_pair(failed: str) -> None:
    pairs, outcomes = failure_preferences([_failure(failed)], SYSTEM)
    assert pairs == [] and outcomes == {"same_reply": 1}


@pytest.mark.parametrize(
    ("failed", "threshold", "outcome"),
    [
        ("You can order a new one in the app. It arrives in 3 to 5 working days; the charge is $8.", 1.0, "kept"),
        ("The charge is $5. It arrives in 3 to 5 working days; you can order a new one in the app.", 1.0,
         "near_duplicate_candidates"),  # the same words in another order
        ("You can order a new one in the app. It arrives in 3 to 5 working days; the charge is $8.", 0.8,
         "near_duplicate_candidates"),
        ("I cannot help with that.", 0.8, "kept"),
    ],
)  # fmt: skip
def test_failure_pairs_by_similarity(failed: str, threshold: float, outcome: str) -> None:
    pairs, outcomes = failure_preferences([_failure(failed)], SYSTEM, threshold)
    assert outcomes == {outcome: 1} and len(pairs) == (outcome == "kept")


def test_failure_pair_prompts_are_the_fine_tuning_line_before_its_reply() -> None:
    """The DPO prompt is the train.jsonl line's turns before the reply, opening with the same system turn."""
    row = _failure("I cannot help with that.")
    pairs, _ = failure_preferences([row], SYSTEM)
    assert pairs[0]["prompt"] == chat_record(row, SYSTEM)["messages"][:-1]
    assert pairs[0]["prompt"][0] == {"role": "system", "content": SYSTEM}
    assert preference_record_problem(pairs[0]) is None
    without_system = {**pairs[0], "prompt": pairs[0]["prompt"][1:]}
    assert preference_record_problem(without_system) == (
        "the prompt must open with the system turn, as every train.jsonl line does"
    )
    two_replies = {**pairs[0], "chosen": pairs[0]["chosen"] * 2}
    assert preference_record_problem(two_replies) == "chosen must be one assistant message"


def _candidate(reply: str, reasons: list[str]) -> dict:
    return {"messages": [{"role": "user", "content": "Where is my parcel?"}, {"role": "assistant", "content": reply}],
            "reasons": reasons}  # fmt: skip


@pytest.mark.parametrize("rejected", SAME_ONCE_NORMALISED)
def test_teacher_pairs_whose_replies_match_once_normalised_give_no_pair(rejected: str) -> None:
    pair = {"candidates": [_candidate(CORRECTED, []), _candidate(rejected, ["length: too long"])]}
    assert choose_pair(pair, 0.99, SYSTEM) == (None, "same_reply")


def test_teacher_pair_near_duplicates_and_clear_winners() -> None:
    near = {"candidates": [_candidate(CORRECTED, []), _candidate(CORRECTED.replace("$5", "$8"), ["policy_facts: x"])]}
    assert choose_pair(near, 0.8, SYSTEM) == (None, "near_duplicate_candidates")
    clear = {"candidates": [_candidate("I cannot help.", ["refusal"]), _candidate(CORRECTED, [])]}
    record, outcome = choose_pair(clear, 0.8, SYSTEM)
    assert outcome == "kept" and record["chosen"][0]["content"] == CORRECTED


@pytest.mark.parametrize("failed", SAME_ONCE_NORMALISED[:3])
def test_the_seed_stage_refuses_a_failure_that_shows_no_failure(project: Path, failed: str) -> None:
    path = project / "seeds/failures.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[1]["messages"][-1]["content"] = CORRECTED
    lines[1]["failed_reply"] = failed
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run_stage("seed", project, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "seeds/failures.jsonl:2: field 'failed_reply': the same as the corrected reply (messages.1.content)" in (
        result.stderr
    )
