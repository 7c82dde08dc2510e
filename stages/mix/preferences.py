"""DPO pairs for `data/mix/preferences.jsonl`: from logged failures and from teacher pairs.

A logged failure gives the expert's corrected reply (chosen) over the bot's failed reply (rejected).
A teacher pair (two replies to one seed, each checked by the filter) gives one only when exactly one
candidate passed. For every source, a pair teaches nothing when its two replies are the same once
normalised (core.text.match_key: case, spacing, punctuation, typographic forms, invisible characters)
or near-duplicates (word Jaccard at or above the source's threshold); every pair's outcome is counted.
Each record's prompt opens with the domain's system prompt, as every train.jsonl line does
(stages/mix/formats.py `preference_record`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from stages.core.rows import reason_code
from stages.core.text import match_key, word_jaccard
from stages.mix.formats import preference_record

Row = dict[str, Any]


def no_preference(chosen: str, rejected: str, max_similarity: float) -> str | None:
    """Why two replies teach no preference ("same_reply", "near_duplicate_candidates"), or None."""
    if match_key(chosen) == match_key(rejected):
        return "same_reply"
    if word_jaccard(chosen, rejected) >= max_similarity:
        return "near_duplicate_candidates"
    return None


def failure_preferences(
    humans: list[Row], system_prompt: str, max_similarity: float = 1.0
) -> tuple[list[Row], dict[str, int]]:
    """Preference records from logged failures (`origin` "failure" with `meta.failed_reply`), in input
    order, each prompt opening with `system_prompt`, and every failure's outcome counted ("kept", or why
    `no_preference`)."""
    pairs = []
    outcomes: Counter[str] = Counter()
    for row in humans:
        failed = row.get("meta", {}).get("failed_reply")
        if row["origin"] != "failure" or not failed:
            continue
        chosen = row["messages"][-1]["content"]
        outcome = no_preference(chosen, failed, max_similarity) or "kept"
        outcomes[outcome] += 1
        if outcome == "kept":
            pairs.append(preference_record(row, chosen=chosen, rejected=failed, system_prompt=system_prompt))
    return pairs, dict(sorted(outcomes.items()))


def choose_pair(pair: Row, max_similarity: float, system_prompt: str) -> tuple[Row, str] | tuple[None, str]:
    """(preference record, its prompt opening with `system_prompt`, and "kept") for a teacher pair with a
    clear winner, else (None, why not).

    `pair["candidates"]` holds two rows, each with the filter's `reasons` (empty: passed). Two failures
    (the same or different checks) have no chosen side, and replies that are the same once normalised
    or have word Jaccard of at least `max_similarity` carry no preference: outcomes
    "both_failed_same_check", "both_failed", "no_winner", "same_reply", "near_duplicate_candidates".
    """
    first, second = pair["candidates"]
    failed = [bool(candidate.get("reasons")) for candidate in pair["candidates"]]
    if all(failed):
        same = {reason_code(r) for r in first["reasons"]} & {reason_code(r) for r in second["reasons"]}
        return None, "both_failed_same_check" if same else "both_failed"
    if not any(failed):
        return None, "no_winner"
    chosen, rejected = (second, first) if failed[0] else (first, second)
    why_not = no_preference(chosen["messages"][-1]["content"], rejected["messages"][-1]["content"], max_similarity)
    if why_not is not None:
        return None, why_not
    replies = {"chosen": chosen["messages"][-1]["content"], "rejected": rejected["messages"][-1]["content"]}
    record = preference_record(chosen, **replies, system_prompt=system_prompt)
    return record, "kept"


def teacher_preferences(
    pairs: Iterable[Row], max_similarity: float, system_prompt: str
) -> tuple[list[Row], dict[str, int]]:
    """The preference records of the teacher pairs that have one (prompts opening with `system_prompt`),
    and every pair's outcome counted (sorted by outcome, as metrics/mix.json `teacher_pairs` lists them)."""
    records = []
    outcomes: Counter[str] = Counter()
    for pair in pairs:
        record, outcome = choose_pair(pair, max_similarity, system_prompt)
        outcomes[outcome] += 1
        if record is not None:
            records.append(record)
    return records, dict(sorted(outcomes.items()))
