"""The review stage streams its rows: the queue files written row by row are byte for byte what the
whole-queue writers write, and the stage's outputs do not depend on holding the rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.core.jsonl import write_json, write_jsonl
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
