"""What every gate reports: counts per reason, per slice and per template, and the rows it removed.

Every gate (generate, filter, dedup, mix) drops rows the same way: the row is written, unchanged but
for a `reasons` list ("code" or "code: detail"), to the gate's removed-rows file by `RemovedRows`,
and counted by a `GateTally` under each reason's code, overall and per slice and per template. So any
removed row says which gate removed it and why, and every gate's metrics can be read the same way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from stages.core.jsonl import atomic_open, dumps_row
from stages.core.rows import reason_code

Row = dict[str, Any]
BATCH_ROWS = 4096  # rows per batch for stages that stream: enough to amortise numpy/model calls


def count_by(rows: Iterable[Row], key: Callable[[Row], str]) -> dict[str, int]:
    """Counts per key, sorted by key so metrics files are stable."""
    counts = Counter(key(row) for row in rows)
    return {name: counts[name] for name in sorted(counts)}


def share(part: int, whole: int) -> float:
    """part/whole rounded to 4 decimals for metrics; 0.0 for an empty whole."""
    return round(part / whole, 4) if whole else 0.0


def batches(rows: Iterable[Row], size: int = BATCH_ROWS) -> Iterator[list[Row]]:
    """Consecutive lists of at most `size` rows, in input order."""
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def template_of(row: Row) -> str:
    """The row's template id ("none" for human rows): the unit of per-template figures."""
    return str((row.get("provenance") or {}).get("template_id", "none"))


def slice_of(row: Row) -> str:
    """The row's slice ("?" when it has none, e.g. a row that failed the schema check)."""
    return str(row.get("slice", "?"))


class GateTally:
    """Rows seen and rows removed per reason code: overall, per slice and per template.

    `add(row, reasons)` counts one row; empty `reasons` means kept. Counters hold "rows", "removed"
    and one entry per reason code; a row with several reasons counts once under each code.
    """

    GROUPS: tuple[tuple[str, Callable[[Row], str]], ...] = (("slices", slice_of), ("templates", template_of))

    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self.groups: dict[str, defaultdict[str, Counter[str]]] = {name: defaultdict(Counter) for name, _ in self.GROUPS}

    def add(self, row: Row, reasons: Iterable[str] = ()) -> None:
        """Count `row`, removed under each code in `reasons` (kept if there is none)."""
        counters = (self.total, *[self.groups[name][key(row)] for name, key in self.GROUPS])
        if not reasons:  # the common case, kept rows: no set, sort or update (a third of dedup's tally time)
            for counter in counters:
                counter["rows"] += 1
                counter["removed"] += 0  # the key exists for every group, as for removed rows
            return
        codes = sorted({reason_code(reason) for reason in reasons})
        for counter in counters:
            counter["rows"] += 1
            counter["removed"] += 1
            counter.update(codes)

    def reasons(self, counts: Counter[str] | None = None) -> dict[str, int]:
        """Removals per reason code (of `counts`, default the total), sorted by code."""
        counts = self.total if counts is None else counts
        return {code: counts[code] for code in sorted(counts) if code not in ("rows", "removed")}

    def merge(self, other: GateTally) -> None:
        """Add another tally's counts (e.g. one shard's) to this one."""
        self.total.update(other.total)
        for name, members in other.groups.items():
            for key, counts in members.items():
                self.groups[name][key].update(counts)


class RemovedRows:
    """The gate's removed-rows JSONL file, written atomically: each row with its `reasons`.

    Use as a context manager; `add(row, reasons)` writes the row (all fields kept, `reasons` set)
    and counts it in `tally` when one is given. The file appears only if the block succeeds.
    """

    def __init__(self, path: str | Path, tally: GateTally | None = None) -> None:
        self.path = Path(path)
        self.tally = tally
        self.count = 0
        self._context: Any = None
        self._handle: IO[str] | None = None

    def __enter__(self) -> RemovedRows:
        self._context = atomic_open(self.path)
        self._handle = self._context.__enter__()
        return self

    def add(self, row: Row, reasons: list[str]) -> Row:
        """Write `row` with `reasons` (at least one) and return the written row."""
        if not reasons:
            raise ValueError("a removed row needs at least one reason")
        assert self._handle is not None, "RemovedRows used outside its with-block"
        removed = {**row, "reasons": list(reasons)}
        self._handle.write(dumps_row(removed) + "\n")
        self.count += 1
        if self.tally is not None:
            self.tally.add(row, reasons)
        return removed

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._context.__exit__(kind, error, traceback)
