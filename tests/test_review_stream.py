"""The review stage streams its rows: the queue files written row by row are byte for byte what the
whole-queue writers write, and the stage's outputs do not depend on holding the rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.core.jsonl import read_jsonl, write_json, write_jsonl
from stages.core.params import Taxonomy
from stages.review.queue import QueueFiles, label_studio_tasks, queue_record, write_queue_csv
from tests.conftest import CRITICAL, TAXONOMY

TAX = Taxonomy(slices=TAXONOMY, critical=CRITICAL)


def _row(index: int) -> dict:
    user = ["plain", 'a "quoted", comma\nand a second line', "ünïcode ✓ and emoji 🙂", "tab\there"][index % 4]
    return {
        "id": f"{index:020d}", "slice": "cards", "intent": "card_arrival", "case_id": f"c{index}",
        "provenance": {"template_id": "t", "model": "m"} if index % 2 else None,
        "messages": [{"role": "user", "content": f"{user} {index}"}, {"role": "assistant", "content": "ok"}],
        "review": {"status": "pending"},
    }  # fmt: skip


@pytest.mark.parametrize("count", [0, 1, 7])
def test_queue_files_written_row_by_row_equal_the_whole_queue_writers(tmp_path: Path, count: int) -> None:
    queue = [_row(index) for index in range(count)]
    whole, streamed = tmp_path / "whole", tmp_path / "streamed"
    write_jsonl(whole / "queue.jsonl", queue)
    write_queue_csv(whole / "queue.csv", [queue_record(row, TAX) for row in queue])
    write_json(whole / "label_studio.json", label_studio_tasks(queue, TAX))
    with QueueFiles(streamed, TAX) as files:
        for row in queue:
            files.add(row)
    assert files.count == count
    for name in ("queue.jsonl", "queue.csv", "label_studio.json"):
        assert (streamed / name).read_bytes() == (whole / name).read_bytes(), name


def test_a_failed_run_leaves_no_queue_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), QueueFiles(tmp_path, TAX) as files:
        files.add(_row(1))
        raise RuntimeError("stopped")
    assert list(tmp_path.iterdir()) == []


def test_queue_files_are_written_in_the_given_order_rows_it_lacks_last(tmp_path: Path) -> None:
    """Rows come in as the stage streams them and go out in `order` (the review priority); the three
    files agree, and a row the order lacks follows, in the order added."""
    rows = [_row(index) for index in range(6)]
    order = {rows[4]["id"]: 0, rows[1]["id"]: 1, rows[5]["id"]: 2, rows[0]["id"]: 3, rows[2]["id"]: 4}
    with QueueFiles(tmp_path, TAX, order) as files:
        for row in rows:
            files.add(row)
    expected = [rows[4], rows[1], rows[5], rows[0], rows[2], rows[3]]
    assert [row["id"] for row in read_jsonl(tmp_path / "queue.jsonl")] == [row["id"] for row in expected]
    whole = tmp_path / "whole"
    write_queue_csv(whole / "queue.csv", [queue_record(row, TAX) for row in expected])
    write_json(whole / "label_studio.json", label_studio_tasks(expected, TAX))
    for name in ("queue.csv", "label_studio.json"):
        assert (tmp_path / name).read_bytes() == (whole / name).read_bytes(), name
