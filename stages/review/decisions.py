"""The reviewers' verdicts: read from a versioned CSV keyed by row id, and applied to the rows.

seeds/reviews/decisions.csv has the columns `id,verdict,reason,corrected_reply,reviewer,note`
(`id` and `verdict` required in the header). A verdict is `approve`, `reject` (with a reason) or
`edit` (with the corrected reply, which becomes the row's last assistant turn). A bad line, an unknown
verdict or a second decision for an id is a UserError naming file, line and field.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.core.errors import UserError
from stages.core.rows import row_id

Row = dict[str, Any]
DECISION_COLUMNS = ("id", "verdict", "reason", "corrected_reply", "reviewer", "note")
VERDICTS = ("approve", "reject", "edit")
STATUS_OF_VERDICT = {"approve": "approved", "reject": "rejected", "edit": "edited"}


@dataclass(frozen=True)
class Decision:
    """One line of the decisions file; `where` is its "file:line" (the line a spreadsheet shows)."""

    row_id: str
    verdict: str
    reason: str
    corrected_reply: str
    reviewer: str
    note: str
    where: str


@dataclass
class DecisionSet:
    """Verdicts that apply to current rows, and the ones that no longer do."""

    by_id: dict[str, Decision]
    for_removed_rows: int = 0  # rows an upstream gate (filter, dedup) has since removed
    unknown: int = 0  # ids seen nowhere (only counted with on_unknown_id: warn)


def parse_decision(record: dict[str, str | None], where: str) -> Decision:
    """A validated decision from one CSV record; raises UserError naming `where` and the field."""
    values = {key: (record.get(key) or "").strip() for key in DECISION_COLUMNS}
    decision = Decision(values["id"], values["verdict"].lower(), values["reason"],
                        values["corrected_reply"], values["reviewer"], values["note"], where)  # fmt: skip
    if decision.verdict not in VERDICTS:
        raise UserError(f"{where}: field 'verdict': '{decision.verdict}' is not one of {list(VERDICTS)}")
    if decision.verdict == "reject" and not decision.reason:
        raise UserError(f"{where}: field 'reason': a reject needs a reason")
    if decision.verdict == "edit" and not decision.corrected_reply:
        raise UserError(f"{where}: field 'corrected_reply': an edit needs the corrected reply")
    return decision


def _file_decisions(handle: Any, path: Path) -> Iterator[Decision]:
    reader = csv.DictReader(handle)
    missing = [c for c in ("id", "verdict") if c not in (reader.fieldnames or [])]
    if missing:
        raise UserError(f"{path}:1: missing column(s) {missing}; expected {list(DECISION_COLUMNS)}")
    seen: dict[str, str] = {}
    for record in reader:
        decision = parse_decision(record, f"{path}:{reader.line_num}")
        if decision.row_id in seen:
            raise UserError(
                f"{decision.where}: field 'id': second decision for '{decision.row_id}'"
                f" (first at {seen[decision.row_id]})"
            )
        seen[decision.row_id] = decision.where
        yield decision


def decision_ids(path: Path) -> set[str]:
    """The ids the decisions file names, read as is (nothing validated: `read_decisions` does that,
    line by line); none for an absent file or one without an `id` column. The stage streams the rows
    once to learn which of these ids are current, instead of holding every row id."""
    if not path.exists():
        return set()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {(record.get("id") or "").strip() for record in csv.DictReader(handle)}


def read_decisions(path: Path, known_ids: set[str], removed_ids: set[str], on_unknown: str = "error") -> DecisionSet:
    """Validated verdicts by row id (an absent file: none).

    A decision for an id in `removed_ids` (rows a later filter or dedup change removed) is counted, not
    an error; one for an id seen nowhere is a UserError, or counted when `on_unknown` is "warn".
    """
    result = DecisionSet({})
    if not path.exists():
        return result
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for decision in _file_decisions(handle, path):  # line by line: the first bad line is the one named
            if decision.row_id in known_ids:
                result.by_id[decision.row_id] = decision
            elif decision.row_id in removed_ids:
                result.for_removed_rows += 1
            elif on_unknown == "warn":
                result.unknown += 1
            else:
                raise UserError(
                    f"{decision.where}: field 'id': unknown row id '{decision.row_id}' (no current row has it; "
                    "set review.on_unknown_id: warn to keep decisions for rows a params change replaced)"
                )
    return result


def apply_decision(row: Row, decision: Decision | None, sampled: bool) -> Row:
    """The row with its `review` (status, reviewer, reason, note); an edit replaces the last assistant
    turn, marks `provenance.human_edited`, gives the row a new id and keeps the old one in `edited_from`."""
    if decision is None:
        return {**row, "review": {"status": "pending" if sampled else "not_sampled"}}
    status = STATUS_OF_VERDICT[decision.verdict]
    review = {"status": status, "reviewer": decision.reviewer, "reason": decision.reason, "note": decision.note}
    if decision.verdict != "edit":
        return {**row, "review": review}
    messages = [dict(m) for m in row["messages"]]
    last_assistant = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    messages[last_assistant]["content"] = decision.corrected_reply
    edited = {**row, "messages": messages, "provenance": {**row["provenance"], "human_edited": True}}
    edited["id"] = row_id(edited)
    return {**edited, "edited_from": row["id"], "review": review}
