"""The synthetic row both backends build, and its rejected form.

A synthetic row copies the seed's labels and lineage (intent, slice, case_id, seed_id, policy_refs),
carries the generator's provenance record, and gets its content-hash id (stages.core.rows.row_id).
"""

from __future__ import annotations

from typing import Any

from stages.core.rows import row_id

Row = dict[str, Any]


def synthetic_row(
    seed: Row, messages: list[dict[str, str]], provenance: dict[str, Any], origin: str, meta: dict[str, Any]
) -> Row:
    """One synthetic row derived from `seed` (a row of data/seed/seeds.jsonl).

    `messages`: the new conversation (chat format; empty for a rejected answer); `origin`:
    "variation" or "pair_candidate"; `meta`: extra facts (e.g. {"variation": 2} or
    {"pair_id": ..., "candidate": 0}) added beside the seed's `policy_refs`. Returns the row with
    its `id` set.
    """
    row: Row = {
        "messages": messages,
        "intent": seed["intent"],
        "slice": seed["slice"],
        "source": "synthetic",
        "origin": origin,
        "case_id": seed["case_id"],
        "seed_id": seed["id"],
        "provenance": provenance,
        "meta": {"policy_refs": seed["meta"].get("policy_refs", []), **meta},
    }
    row["id"] = row_id(row)
    return row


def rejected_row(row: Row, reason: str, raw: str | None = None) -> Row:
    """`row` as data/generate/rejected.jsonl holds it: with `reasons` ([reason], "code: detail")
    and, for a teacher answer that could not be used, the answer's `raw` text."""
    rejected = {**row, "reasons": [reason]}
    if raw is not None:
        rejected["raw"] = raw
    return rejected
