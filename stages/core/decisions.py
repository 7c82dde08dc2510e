"""The reviewers' decisions, from a spreadsheet CSV and from a Label Studio export: read by the filter
(which checks every edit as it checks generated rows) and by review (which applies them).

seeds/reviews/decisions.csv has the columns `id,verdict,reason,corrected_reply,reviewer,note` (`id`
and `verdict` required in the header), read by core.files.iter_csv as a spreadsheet saves it. A
verdict is `approve`, `reject` (with a reason) or `edit` (with the corrected reply, which becomes the
row's last assistant turn; it is stored tidied: core.text.tidy, so no "\\r" of a spreadsheet's line
breaks reaches the training files).

seeds/reviews/label_studio_export.json is Label Studio's JSON export of a project that imported
data/review/label_studio.json with the labeling config seeds/reviews/label_studio_config.xml: a list
of tasks, each with `data` (the queue record, so `data.id` is the row id) and `annotations`, each with
a `result` list of {"from_name", "type", "value"} regions: `verdict` (choices), `reason`,
`corrected_reply` and `note` (textareas), and `completed_by` (a user id, or a user object with an
email). The latest annotation that was not cancelled decides; tasks nobody annotated are left out.

A bad row, an unknown verdict or a second decision for an id (in either file) is a problem naming
the file, the row or task, and the field; every problem of both files is listed at once, in the
filter and review stages as in `python -m stages.validate` (one reading: `checked_decisions`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.core.errors import UserError
from stages.core.files import iter_csv, read_json
from stages.core.hashing import sha256_hex
from stages.core.text import tidy

DECISION_COLUMNS = ("id", "verdict", "reason", "corrected_reply", "reviewer", "note")
VERDICTS = ("approve", "reject", "edit")
DECISIONS_FILE = Path("seeds/reviews/decisions.csv")
LABEL_STUDIO_EXPORT = Path("seeds/reviews/label_studio_export.json")


@dataclass(frozen=True)
class Decision:
    """One reviewer decision; `where` is "file:row" (the row a spreadsheet shows) or "file: task N (...)"."""

    row_id: str
    verdict: str
    reason: str
    corrected_reply: str
    reviewer: str
    note: str
    where: str


def edit_key(row_id: str, reply: str) -> str:
    """The key of one checked edit (the filter's data/filter/human.jsonl, read by review): the row id
    and a hash of the corrected reply, so a verdict never applies to a reply it did not check."""
    return f"{row_id}:{sha256_hex(reply)[:16]}"


def parse_decision(record: dict[str, str | None], where: str) -> Decision:
    """A validated decision from one record of the DECISION_COLUMNS; raises UserError naming `where` and the field."""
    values = {key: (record.get(key) or "").strip() for key in DECISION_COLUMNS}
    decision = Decision(values["id"], values["verdict"].lower(), values["reason"],
                        tidy(values["corrected_reply"]), values["reviewer"], values["note"], where)  # fmt: skip
    if not decision.row_id:
        raise UserError(f"{where}: field 'id': empty (copy the row id from the review queue)")
    if decision.verdict not in VERDICTS:
        raise UserError(f"{where}: field 'verdict': '{decision.verdict}' is not one of {list(VERDICTS)}")
    if decision.verdict == "reject" and not decision.reason:
        raise UserError(f"{where}: field 'reason': a reject needs a reason")
    if decision.verdict == "edit" and not decision.corrected_reply:
        raise UserError(f"{where}: field 'corrected_reply': an edit needs the corrected reply")
    return decision


Record = tuple[str, dict[str, str | None]]  # (where, the DECISION_COLUMNS it gives)


def csv_records(path: Path) -> Iterator[Record]:
    """The records of a decisions CSV, row by row (so the first bad row is the one named)."""
    for record in iter_csv(path, ("id", "verdict"), "decisions file"):
        yield record.where, dict(record.values)


def csv_decisions(path: Path) -> Iterator[Decision]:
    """The decisions of a decisions CSV, row by row."""
    return (parse_decision(record, where) for where, record in csv_records(path))


def _region_text(region: dict[str, Any]) -> str:
    value = region.get("value") or {}
    if "choices" in value:
        return ", ".join(str(choice) for choice in value["choices"])
    text = value.get("text", "")
    return "\n".join(str(part) for part in text) if isinstance(text, list) else str(text)


def _reviewer(annotation: dict[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("id") or "")
    return f"label-studio user {who}" if who is not None else ""


def _latest_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    annotations = task.get("annotations") or task.get("completions") or []  # "completions": exports before 1.0
    done = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if not done:
        return None
    return max(enumerate(done), key=lambda item: (str(item[1].get("updated_at") or ""), item[0]))[1]


def label_studio_decisions(path: Path) -> Iterator[Decision]:
    """The decisions of a Label Studio JSON export (module docstring), task by task."""
    return (parse_decision(record, where) for where, record in label_studio_records(path))


def label_studio_records(path: Path) -> Iterator[Record]:
    """The records of a Label Studio JSON export's annotated tasks, task by task."""
    tasks = read_json(path, "Label Studio export")
    if not isinstance(tasks, list):
        raise UserError(f"{path}: expected Label Studio's JSON export (a list of tasks), got {type(tasks).__name__}")
    for index, task in enumerate(tasks, start=1):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            raise UserError(f"{path}: task {index}: no `data` object (not a Label Studio task)")
        where = f"{path}: task {index} (Label Studio id {task.get('id')}, row {data.get('id')})"
        annotation = _latest_annotation(task)
        if annotation is None:
            continue
        record: dict[str, str | None] = {"id": str(data.get("id") or ""), "reviewer": _reviewer(annotation)}
        for region in annotation.get("result") or []:
            if isinstance(region, dict) and region.get("from_name") in DECISION_COLUMNS:
                record[region["from_name"]] = _region_text(region)
        yield where, record


def _second_decision(decision: Decision, seen: dict[str, str]) -> str | None:
    """The problem of a second decision for a row id already in `seen` (which it then joins), else None."""
    first = seen.setdefault(decision.row_id, decision.where)
    if first == decision.where:
        return None
    return f"{decision.where}: field 'id': second decision for '{decision.row_id}' (first at {first})"


def _sources(csv_path: Path | None, label_studio_path: Path | None) -> list[Iterator[Record]]:
    """The record readers of the files that exist: the CSV, then the Label Studio export."""
    pairs = [(csv_path, csv_records), (label_studio_path, label_studio_records)]
    return [reader(path) for path, reader in pairs if path is not None and path.exists()]


def checked_decisions(csv_path: Path | None, label_studio_path: Path | None) -> list[Decision | str]:
    """Each record of the CSV and then the Label Studio export (a file that is None or absent gives none),
    in file order: its Decision, or its problem (the same messages `parse_decision` raises; a second
    decision for a row id, in the same or the other file, names both), without stopping at the first bad
    row. A fault in a file's shape (header, a quote left open, and a line that is not UTF-8 unless
    core.files collects those) ends that file's reading, with its problem listed."""
    seen: dict[str, str] = {}
    results: list[Decision | str] = []
    for records in _sources(csv_path, label_studio_path):
        try:
            for where, record in records:
                try:
                    decision = parse_decision(record, where)
                except UserError as err:
                    results.append(str(err))
                    continue
                results.append(_second_decision(decision, seen) or decision)
        except UserError as err:
            results.append(str(err))
    return results


def problems_error(problems: list[str]) -> UserError:
    """One UserError for every problem: the problem itself, or "N problem(s):" and one line each (as
    `python -m stages.validate` lists them)."""
    if len(problems) == 1:
        return UserError(problems[0])
    return UserError(f"{len(problems)} problem(s):\n" + "\n".join(problems))


def read_decision_files(csv_path: Path | None, label_studio_path: Path | None) -> list[Decision]:
    """Every decision of the CSV and then the Label Studio export (`checked_decisions`); any problem is
    one UserError listing every problem of both files (`problems_error`)."""
    results = checked_decisions(csv_path, label_studio_path)
    problems = [result for result in results if isinstance(result, str)]
    if problems:
        raise problems_error(problems)
    return [result for result in results if isinstance(result, Decision)]


def decision_problems(csv_path: Path | None, label_studio_path: Path | None) -> tuple[int, list[str]]:
    """(valid decisions, every problem) of both review files (`checked_decisions`). Which ids the
    pipeline knows is for review."""
    results = checked_decisions(csv_path, label_studio_path)
    return sum(isinstance(r, Decision) for r in results), [r for r in results if isinstance(r, str)]
