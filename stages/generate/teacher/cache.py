"""The per-request response cache: a directory of append-only JSONL shards.

One line per completed response, keyed by the request key (a hash of everything that determines
the request). Each line is written and flushed to the OS as its response arrives, so a crash,
Ctrl-C or `kill -9` loses only the requests in flight; the directory is a DVC output with
`persist: true`, so DVC keeps it between runs and `dvc push`/`pull` share it.

Shards: responses-0000.jsonl, responses-0001.jsonl, ... New lines go to the newest shard until it
passes SHARD_MAX_BYTES; older shards never change again, so DVC stores and pushes them once.

Reading tolerates what a killed writer leaves: a last line without its newline is ignored (and cut
off before the next append); an undecodable complete line is skipped with a warning. When a key
appears twice (two runs raced), the first line wins, so reads are stable.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from stages.core.hashing import canonical_json
from stages.generate.teacher.plan import TeacherRequest

SHARD_PREFIX = "responses-"
SHARD_SUFFIX = ".jsonl"
SHARD_MAX_BYTES = 32 * 2**20
FSYNC_INTERVAL_S = 1.0  # flush() already survives kill -9; fsync bounds what a power cut can lose


class ResponseCache:
    """The cache directory, read whole on open; `append` persists each new response at once.

    `entries` maps request key -> cache line (see cache_entry); `redact` is applied to each line
    before it is written (the runner sets it to scrub the API key). Use as a context manager.
    """

    def __init__(self, directory: Path, redact: Callable[[str], str] = lambda text: text) -> None:
        self.directory = directory
        self.redact = redact
        self.entries: dict[str, dict[str, Any]] = {}
        self.skipped_lines = 0
        self._handle: IO[bytes] | None = None
        self._handle_size = 0
        self._last_fsync = 0.0
        self._load()

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> dict[str, Any] | None:
        """The cache line of request `key`, or None if it was never answered."""
        return self.entries.get(key)

    def shards(self) -> list[Path]:
        """The shard files, oldest first."""
        return sorted(self.directory.glob(f"{SHARD_PREFIX}*{SHARD_SUFFIX}"))

    def append(self, entry: dict[str, Any]) -> None:
        """Persist one response now (written and flushed before this returns)."""
        line = self.redact(canonical_json(entry))
        data = (line + "\n").encode("utf-8")
        handle = self._writer(len(data))
        handle.write(data)
        handle.flush()
        self._handle_size += len(data)
        now = time.monotonic()
        if now - self._last_fsync >= FSYNC_INTERVAL_S:
            os.fsync(handle.fileno())
            self._last_fsync = now
        self.entries.setdefault(entry["key"], json.loads(line))

    def close(self) -> None:
        """Flush, fsync and close the shard being written (if any)."""
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.flush()
                os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _load(self) -> None:
        for shard in self.shards():
            data = shard.read_bytes()
            lines = data.split(b"\n")
            # The piece after the last newline is a line a killed writer did not finish.
            for line_no, line in enumerate(lines[:-1], start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    key = entry["key"]
                except (ValueError, KeyError, TypeError):
                    self.skipped_lines += 1
                    print(f"warning: {shard}:{line_no}: unreadable cache line skipped", file=sys.stderr)
                    continue
                self.entries.setdefault(key, entry)

    def _writer(self, incoming: int) -> IO[bytes]:
        if self._handle is not None and self._handle_size + incoming <= SHARD_MAX_BYTES:
            return self._handle
        self.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        shards = self.shards()
        path = shards[-1] if shards else self._shard_path(0)
        if shards and path.stat().st_size + incoming > SHARD_MAX_BYTES:
            path = self._shard_path(int(path.name[len(SHARD_PREFIX) : -len(SHARD_SUFFIX)]) + 1)
        if path.exists():
            _own_copy(path)
            _cut_unfinished_line(path)
        self._handle = path.open("ab")
        self._handle_size = path.stat().st_size
        return self._handle

    def _shard_path(self, number: int) -> Path:
        return self.directory / f"{SHARD_PREFIX}{number:04d}{SHARD_SUFFIX}"


def _own_copy(path: Path) -> None:
    """Replace a symlink or hardlink (DVC cache link types) by a private copy before appending,
    so appending can never modify DVC's cached copy of the file."""
    if not path.is_symlink() and path.stat().st_nlink <= 1:
        return
    tmp = path.with_name(f".{path.name}.copy")
    shutil.copyfile(path, tmp)  # follows the link: copies the content
    os.replace(tmp, path)


def _cut_unfinished_line(path: Path) -> None:
    """Truncate a trailing partial line so the next line starts on a line of its own."""
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        chunk_start = size
        while chunk_start > 0:
            chunk_start = max(0, chunk_start - 65536)
            handle.seek(chunk_start)
            chunk = handle.read(size - chunk_start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                handle.truncate(chunk_start + newline + 1)
                return
        handle.truncate(0)


def cache_entry(
    request: TeacherRequest, response: dict[str, Any], endpoint: str, mode: str, batch_id: str | None = None
) -> dict[str, Any]:
    """One cache line: the request key, what was asked (endpoint, kind, model, template, temperature,
    sampling seed, seed id, the structured-output `mode` that was sent), the normalized answer
    (transport.normalize_completion), the Batch API batch it came from (None: direct), and when it
    arrived (UTC)."""
    entry = {
        "key": request.key,
        "endpoint": endpoint,
        "response_format": mode,
        "kind": request.kind,
        "model": request.generator.model,
        "template_id": request.template.template_id,
        "template_hash": request.template.content_hash,
        "temperature": request.generator.temperature,
        "seed": request.sampling_seed,
        "seed_id": request.seed["id"],
        "response": response,
        "received_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if batch_id is not None:
        entry["batch_id"] = batch_id
    return entry
