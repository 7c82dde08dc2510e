"""The reviewers' verdicts (read by core.decisions from the CSV and the Label Studio export), applied to the rows.

A decision for an id that no current row has is an error (or counted, with `on_unknown_id: warn`),
unless an upstream gate has since removed that row; every such id and every other problem of the
decision files is reported at once. An edit replaces the row's last assistant turn only
if the filter's checks passed it (data/filter/human.jsonl, stages/filter/human.py); a failing edit
leaves the row out of the mix, with the checks' reasons in its `review`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.core.decisions import Decision, checked_decisions, edit_key, problems_error
from stages.core.errors import UserError
from stages.core.jsonl import iter_jsonl
from stages.core.rows import row_id

Row = dict[str, Any]
STATUS_OF_VERDICT = {"approve": "approved", "reject": "rejected", "edit": "edited"}
EDIT_FAILED = "edit_failed"  # the review status of a row whose edit the filter's checks rejected


@dataclass
class DecisionSet:
    """Verdicts that apply to current rows, and the ones that no longer do."""

    by_id: dict[str, Decision]
    for_removed_rows: int = 0  # rows an upstream gate (filter, dedup) has since removed
    unknown: int = 0  # ids seen nowhere (only counted with on_unknown_id: warn)


def read_decisions(
    path: Path,
    known_ids: set[str],
    removed_ids: set[str],
    on_unknown: str = "error",
    label_studio: Path | None = None,
) -> DecisionSet:
    """Validated verdicts by row id from the decisions CSV `path` and the Label Studio export
    `label_studio` (an absent file: none).

    A decision for an id in `removed_ids` (rows a later filter or dedup change removed) is counted, not
    an error; one for an id seen nowhere is a problem, or counted when `on_unknown` is "warn". Every
    problem of both files (core.decisions `checked_decisions`: the messages validate lists) and every
    unknown id is one UserError listing them all, in file order (core.decisions `problems_error`).
    """
    result = DecisionSet({})
    problems: list[str] = []
    for checked in checked_decisions(path, label_studio):
        if isinstance(checked, str):
            problems.append(checked)
        elif checked.row_id in known_ids:
            result.by_id[checked.row_id] = checked
        elif checked.row_id in removed_ids:
            result.for_removed_rows += 1
        elif on_unknown == "warn":
            result.unknown += 1
        else:
            problems.append(unknown_id_problem(checked))
    if problems:
        raise problems_error(problems)
    return result


def unknown_id_problem(decision: Decision) -> str:
    """The problem of a decision for a row id no current row has, and what to do about it."""
    return (
        f"{decision.where}: field 'id': unknown row id '{decision.row_id}' (no current row has it: a typo, or a"
        " row that a params change replaced, such as another generator or template; to keep such decisions"
        " for when their rows return, set review.on_unknown_id: warn)"
    )


@dataclass
class EditVerdicts:
    """The filter's verdicts on reviewers' edits (data/filter/human.jsonl), by `edit_key`: reasons, empty if passed."""

    reasons: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def read(cls, path: Path) -> EditVerdicts:
        """The edit verdicts of the filter's human-text file (none if the file is absent)."""
        verdicts = cls(path=path)
        if path.exists():
            for _, record in iter_jsonl(path):
                if record.get("kind") == "edit":
                    verdicts.reasons[record["key"]] = list(record.get("reasons") or [])
        return verdicts

    def of(self, decision: Decision) -> list[str]:
        """The reasons the checks gave the edit (empty: passed); an edit the filter has not checked is a
        UserError (the filter runs before review: `dvc repro` reruns it when the decisions change)."""
        key = edit_key(decision.row_id, decision.corrected_reply)
        if key not in self.reasons:
            raise UserError(
                f"{decision.where}: field 'corrected_reply': not checked by the filter stage yet"
                f" ({self.path} has no verdict on it): run `dvc repro`, or the filter stage before review"
            )
        return self.reasons[key]


def apply_decision(row: Row, decision: Decision | None, sampled: bool, edit_reasons: list[str] | None = None) -> Row:
    """The row with its `review` (status, reviewer, reason, note); an edit replaces the last assistant
    turn, marks `provenance.human_edited`, gives the row a new id and keeps the old one in `edited_from`.
    An edit the filter's checks rejected (`edit_reasons` not empty) leaves the row as it was, with review
    status EDIT_FAILED and those reasons in `review.checks`."""
    if decision is None:
        return {**row, "review": {"status": "pending" if sampled else "not_sampled"}}
    status = STATUS_OF_VERDICT[decision.verdict]
    review = {"status": status, "reviewer": decision.reviewer, "reason": decision.reason, "note": decision.note}
    if edit_reasons:
        return {**row, "review": {**review, "status": EDIT_FAILED, "checks": list(edit_reasons)}}
    if decision.verdict != "edit":
        return {**row, "review": review}
    messages = [dict(m) for m in row["messages"]]
    last_assistant = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    messages[last_assistant]["content"] = decision.corrected_reply
    edited = {**row, "messages": messages, "provenance": {**row["provenance"], "human_edited": True}}
    edited["id"] = row_id(edited)
    return {**edited, "edited_from": row["id"], "review": review}
