"""Human text through the same checks as generated rows: the seed rows and the reviewers' edits.

A person can paste a phone number into a corrected reply, or an expert a 300k-character reply into a
seed, as easily as a teacher can. The filter is the stage that owns the checks, and no stage imports
another's code, so the filter also checks
  seed rows   every training seed of data/seed/seeds.jsonl (cases and corrected failures), whole;
  edits       every `edit` decision (seeds/reviews/decisions.csv, the Label Studio export), as the row it
              would make: the filter's input row of that id with its last assistant turn replaced.
It writes one verdict per text to data/filter/human.jsonl, which the later stages read:
  {"kind": "seed", "id": <seed row id>, "case_id": ..., "where": <file:line>, "reasons": [...]}
  {"kind": "edit", "id": <row id>, "key": core.decisions.edit_key(...), "where": <file:row>, "reasons": [...]}
`reasons` is empty for a text that passed. A seed's `where` is the line of the seed file it came from
(data/seed/where.jsonl, written by the seed stage; absent when that file does not name the row).
Review keeps a failing edit out (status `edit_failed`, counted in metrics/review.json) and mix leaves a
failing seed out of the mix and of the preference pairs (data/mix/removed.jsonl says why). Edits of ids
the filter never saw get no verdict: review reports those ids as unknown. `python -m stages.validate`
runs the same checks (`human_reasons`) over the same seed rows before the pipeline, so a seed this
file would fail is a problem that validate names by file and line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.core.decisions import Decision, edit_key, read_decision_files
from stages.core.jsonl import iter_jsonl, write_jsonl
from stages.core.rows import reason_code
from stages.filter.checks.base import Check, Row
from stages.filter.runner import filter_batches


@dataclass(frozen=True)
class HumanInputs:
    """Where the human texts are: the seed rows (None: not checked), the decision files (None or
    absent: no edits), the rows the filter checks, in which edited ids are looked up, and the seed
    rows' file lines (data/seed/where.jsonl; None or absent: seeds are named by case id)."""

    seeds: Path | None
    decisions: Path | None
    label_studio: Path | None
    rows: Path
    seed_lines: Path | None = None


def edited_row(row: Row, reply: str) -> Row:
    """`row` with its last assistant turn replaced by `reply` (what review will make of an edit)."""
    messages = [dict(message) for message in row["messages"]]
    last = max(index for index, message in enumerate(messages) if message["role"] == "assistant")
    messages[last]["content"] = reply
    return {**row, "messages": messages}


def _edits(inputs: HumanInputs) -> list[tuple[Decision, Row]]:
    """Each edit decision with the row it would make, for the edited ids among the filter's rows."""
    decisions = [d for d in read_decision_files(inputs.decisions, inputs.label_studio) if d.verdict == "edit"]
    if not decisions:
        return []
    wanted = {decision.row_id for decision in decisions}
    rows = {row["id"]: row for _, row in iter_jsonl(inputs.rows) if row.get("id") in wanted}
    return [(d, edited_row(rows[d.row_id], d.corrected_reply)) for d in decisions if d.row_id in rows]


def human_reasons(texts: Iterable[Row], checks: Sequence[Check]) -> list[list[str]]:
    """Every reason the checks give each human text (empty: it passed), in input order: the one run
    behind data/filter/human.jsonl and behind `python -m stages.validate`'s seed problems."""
    return [found for _, found in filter_batches(texts, checks)]


def seed_lines(path: Path | None) -> dict[str, str]:
    """Seed row id -> its "file:line" (the seed stage's where.jsonl); empty when the file is not given or absent."""
    if path is None or not path.exists():
        return {}
    return {record["id"]: record["where"] for _, record in iter_jsonl(path)}


def human_verdicts(inputs: HumanInputs, checks: list[Check]) -> list[dict[str, Any]]:
    """The verdict records (module docstring): seed rows first, in file order, then edits in decision order."""
    seeds = [row for _, row in iter_jsonl(inputs.seeds)] if inputs.seeds is not None else []
    edits = _edits(inputs)
    reasons = human_reasons([*seeds, *(row for _, row in edits)], checks)
    lines = seed_lines(inputs.seed_lines)
    records = [
        {"kind": "seed", "id": row["id"], "case_id": row["case_id"], "reasons": found}
        | ({"where": lines[row["id"]]} if row["id"] in lines else {})
        for row, found in zip(seeds, reasons, strict=False)
    ]
    for (decision, _), found in zip(edits, reasons[len(seeds) :], strict=True):
        key = edit_key(decision.row_id, decision.corrected_reply)
        records.append({"kind": "edit", "id": decision.row_id, "key": key, "where": decision.where, "reasons": found})
    return records


def human_metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """metrics/filter.json `human_text`: seed rows and edits checked and rejected, rejections by reason code."""
    by_reason: Counter[str] = Counter()
    for record in records:
        by_reason.update(reason_code(reason) for reason in record["reasons"])
    figures: dict[str, Any] = {}
    for kind, name in (("seed", "seed_rows"), ("edit", "edits")):
        of_kind = [record for record in records if record["kind"] == kind]
        figures[name] = len(of_kind)
        figures[f"{name}_rejected"] = sum(1 for record in of_kind if record["reasons"])
    return {**figures, "by_reason": dict(sorted(by_reason.items()))}


def write_human_verdicts(inputs: HumanInputs, checks: list[Check], path: Path) -> dict[str, Any]:
    """Check the human texts, write their verdicts to `path` (atomically) and return `human_metrics`;
    every text that fails is also named on stderr by the caller's summary."""
    records = human_verdicts(inputs, checks)
    write_jsonl(path, records)
    return human_metrics(records)


def failures(records_path: Path) -> list[str]:
    """One line per failing human text of a verdict file, for the stage's stderr summary."""
    lines = []
    for _, record in iter_jsonl(records_path):
        if record["reasons"]:
            lines.append(f"{record['kind']} {text_place(record)}: {'; '.join(record['reasons'])}")
    return lines


def text_place(record: dict[str, Any]) -> str:
    """Where a verdict's text is, for messages after its kind ("seed ...", "edit ..."): its file and line,
    with a seed's case id ("seeds/cases.jsonl:4 (case a-001)"), or the case id alone ("case a-001")."""
    case = f"case {record['case_id']}" if record.get("case_id") else ""
    where = record.get("where")
    if where and case:
        return f"{where} ({case})"
    return where or case or str(record["id"])
