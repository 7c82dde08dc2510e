"""The review queue for people: a spreadsheet CSV and a Label Studio import file.

Both hold one record per sampled row still awaiting a verdict: its id (to copy into the decisions
file), slice, intent, whether the slice is critical, template, model, the conversation readable as
text, the seed case, and empty verdict/reason/corrected_reply/reviewer/note columns to fill in.
"""

from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path
from typing import Any

from stages.core.jsonl import atomic_open, dumps_row
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


class QueueFiles:
    """queue.jsonl, queue.csv and label_studio.json in `folder`, written row by row (all atomically):
    byte for byte what `write_jsonl`, `write_queue_csv` and `write_json(label_studio_tasks(...))`
    write from the whole queue, without holding it. Use as a context manager; `add(row)` queues a row."""

    def __init__(self, folder: Path, taxonomy: Taxonomy) -> None:
        self.folder, self.taxonomy = folder, taxonomy
        self.count = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> QueueFiles:
        stack = self._stack
        self._jsonl = stack.enter_context(atomic_open(self.folder / "queue.jsonl"))
        self._csv_handle = stack.enter_context(atomic_open(self.folder / "queue.csv"))
        self._tasks = stack.enter_context(atomic_open(self.folder / "label_studio.json"))
        self._csv_handle.write("\ufeff")
        self._csv = csv.DictWriter(
            self._csv_handle, fieldnames=QUEUE_COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\n"
        )
        self._csv.writeheader()
        return self

    def add(self, row: Row) -> None:
        """Write one queued row to the three files."""
        record = queue_record(row, self.taxonomy)
        self._jsonl.write(dumps_row(row) + "\n")
        self._csv.writerow(record)
        # json.dump(tasks, indent=2) writes each list item as its own dump indented by two more spaces
        task = json.dumps({"data": record}, indent=2, sort_keys=True, ensure_ascii=False).replace("\n", "\n  ")
        self._tasks.write(("[\n  " if not self.count else ",\n  ") + task)
        self.count += 1

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        if kind is None:
            self._tasks.write("\n]\n" if self.count else "[]\n")
        self._stack.__exit__(kind, error, traceback)
