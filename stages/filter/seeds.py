"""The seed rows some checks compare a synthetic row with, by id (data/seed/seeds.jsonl)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from stages.core.jsonl import read_jsonl

Row = dict[str, Any]


@cache
def seed_index(path: Path) -> dict[str, Row]:
    """Every row of the seed file by its `id` (read once per path and run)."""
    return {row["id"]: row for row in read_jsonl(path)}


def conversation_turns(row: Row) -> list[dict[str, str]]:
    """The user and assistant turns of a row (a system turn is the fine-tuning frame, not the talk)."""
    return [message for message in row["messages"] if message["role"] != "system"]
