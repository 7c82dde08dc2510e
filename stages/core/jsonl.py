"""JSONL and JSON I/O: reads that name file, line and character on bad input (core.files), atomic writes.

Every output is written to a temporary file beside its target and renamed into place, so a crash
never leaves a half-written output (and DVC-linked outputs are replaced, never edited in place).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from stages.core.errors import UserError
from stages.core.files import json_error_detail, text_lines
from stages.core.hashing import canonical_json


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def parse_jsonl_line(path: str | Path, line_no: int, line: str) -> dict[str, Any] | None:
    """The object on line `line_no` of `path` (None for a blank line); a line that is not a JSON object
    is a UserError naming the line and the character of the fault."""
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"{path}:{line_no}: not valid JSON: {json_error_detail(err, line)}") from None
    if not isinstance(value, dict):
        raise UserError(f"{path}:{line_no}: expected a JSON object, got {type(value).__name__}")
    return value


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line, read by core.files (UTF-8, lines split at
    "\n" only); a bad line is a UserError naming the line and the character of the fault."""
    for line_no, line in text_lines(path):
        value = parse_jsonl_line(path, line_no, line)
        if value is not None:
            yield line_no, value


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All objects of a JSONL file, in order."""
    return [row for _, row in iter_jsonl(path)]


def dumps_row(row: dict[str, Any]) -> str:
    """One JSONL line (no newline): canonical JSON, so equal rows are byte-identical."""
    return canonical_json(row)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temp file beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        newline = None if "b" in mode else "\n"
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as handle:
            yield handle
        os.chmod(tmp_name, 0o666 & ~_UMASK)  # mkstemp creates 0600; outputs get normal permissions
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically; return how many were written."""
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(dumps_row(row))
            handle.write("\n")
            count += 1
    return count


def write_json(path: str | Path, value: Any) -> None:
    """Write a JSON document (metrics, cards) atomically, pretty and key-sorted."""
    with atomic_open(path) as handle:
        json.dump(value, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_open(path) as handle:
        handle.write(text)
