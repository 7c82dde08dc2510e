"""The review queue for people: a spreadsheet CSV and a Label Studio import file.

Both hold one record per sampled row still awaiting a verdict: its id (to copy into the decisions
file), slice, intent, whether the slice is critical, template, model, the conversation readable as
text, the seed case, and empty verdict/reason/corrected_reply/reviewer/note columns to fill in.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from stages.core.jsonl import atomic_open
from stages.core.params import Taxonomy

Row = dict[str, Any]
QUEUE_COLUMNS = (
    "id", "slice", "intent", "critical", "template", "model", "conversation", "seed_case",
    "verdict", "reason", "corrected_reply", "reviewer", "note",
)  # fmt: skip


def readable(row: Row) -> str:
    """The conversation as text: "ROLE: content" per turn, turns separated by a blank line."""
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in row["messages"])


def queue_record(row: Row, taxonomy: Taxonomy) -> dict[str, str]:
    """One queue record (the QUEUE_COLUMNS, all strings; the reviewer's columns empty)."""
    provenance = row.get("provenance") or {}
    return {
        "id": row["id"],
        "slice": row["slice"],
        "intent": row["intent"],
        "critical": "yes" if taxonomy.is_critical(row["slice"]) else "no",
        "template": str(provenance.get("template_id", "")),
        "model": str(provenance.get("model", "")),
        "conversation": readable(row),
        "seed_case": row["case_id"],
        "verdict": "", "reason": "", "corrected_reply": "", "reviewer": "", "note": "",
    }  # fmt: skip


def write_queue_csv(path: Path, records: list[dict[str, str]]) -> None:
    """Write the queue CSV atomically: a header, then one quoted line per record."""
    # utf-8-sig so spreadsheet programs detect the encoding; every field quoted for embedded newlines.
    with atomic_open(path) as handle:
        handle.write("\ufeff")
        writer = csv.DictWriter(handle, fieldnames=QUEUE_COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def label_studio_tasks(queue: list[Row], taxonomy: Taxonomy) -> list[dict[str, Any]]:
    """Label Studio import file: one task {"data": queue record} per queued row, the row id kept."""
    return [{"data": queue_record(row, taxonomy)} for row in queue]
