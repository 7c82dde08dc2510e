"""The review queue for people: a spreadsheet CSV and a Label Studio import file.

Both hold one record per sampled row still awaiting a verdict: its id (to copy into the decisions
file), slice, intent, whether the slice is critical, template, model, the conversation readable as
text, the seed case, and empty verdict/reason/corrected_reply/reviewer/note columns to fill in.

Order (queue.csv, queue.jsonl and label_studio.json alike): critical slices first, then the others;
within each, by the row's review draw (lowest first, ties by id: sampling.review_order), the order in
which `budget_rows` serves rows. A reviewer who stops early has therefore reviewed critical rows first,
and a random sample of them rather than the first seeds' lineages; the order is the same on every
run, and rows added later never reorder the rows already queued among themselves.
"""

from __future__ import annotations

import contextlib
import csv
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

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
    """queue.jsonl, queue.csv and label_studio.json in `folder` (all atomically), rows in `order` of
    their ids (sampling.review_order; rows it lacks, or all without it, after, as added): byte for byte
    what `write_jsonl`, `write_queue_csv` and `write_json(label_studio_tasks(...))` write from the queue
    in that order, without holding it. Rows added are spooled to a temporary file and written in order
    on a successful exit, so memory holds four numbers per row. Use as a context manager; `add(row)`
    queues a row."""

    def __init__(self, folder: Path, taxonomy: Taxonomy, order: Mapping[str, int] | None = None) -> None:
        self.folder, self.taxonomy, self.order = folder, taxonomy, order or {}
        self.count = 0
        self._places: list[tuple[int, int, int, int]] = []  # (place in order, place added, offset, bytes)
        self._spool: IO[bytes] | None = None

    def __enter__(self) -> QueueFiles:
        self._spool = tempfile.TemporaryFile()
        return self

    def add(self, row: Row) -> None:
        """Queue one row (spooled; written on exit)."""
        assert self._spool is not None, "QueueFiles is used as a context manager"
        line = (dumps_row(row) + "\n").encode("utf-8")
        place = self.order.get(row["id"], len(self.order))
        self._places.append((place, self.count, self._spool.tell(), len(line)))
        self._spool.write(line)
        self.count += 1

    def _write(self, spool: IO[bytes]) -> None:
        """The three files from the spooled rows, in order."""
        with contextlib.ExitStack() as stack:
            jsonl = stack.enter_context(atomic_open(self.folder / "queue.jsonl"))
            csv_handle = stack.enter_context(atomic_open(self.folder / "queue.csv"))
            tasks = stack.enter_context(atomic_open(self.folder / "label_studio.json"))
            csv_handle.write("\ufeff")
            writer = csv.DictWriter(csv_handle, fieldnames=QUEUE_COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\n")
            writer.writeheader()
            for index, (_, _, offset, size) in enumerate(sorted(self._places)):
                spool.seek(offset)
                line = spool.read(size).decode("utf-8")
                record = queue_record(json.loads(line), self.taxonomy)
                jsonl.write(line)
                writer.writerow(record)
                # json.dump(tasks, indent=2) writes each list item as its own dump indented by two more spaces
                task = json.dumps({"data": record}, indent=2, sort_keys=True, ensure_ascii=False).replace("\n", "\n  ")
                tasks.write(("[\n  " if not index else ",\n  ") + task)
            tasks.write("\n]\n" if self._places else "[]\n")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        assert self._spool is not None
        with self._spool:
            if kind is None:
                self._write(self._spool)
