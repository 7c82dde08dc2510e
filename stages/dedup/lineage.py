"""The lineage walk (params `dedup.lineage_walk`): each seed lineage walked alone, in row order.

A lineage is the rows sharing a `seed_id`: the seed a row varies. A row made from several seeds (a
template that borrows a donor's words) lists them all in provenance `seed_ids`, the varied seed first,
and that first one is its `seed_id`; a row without a `seed_id` takes the first of its provenance
`seed_ids`, and a row with neither has no lineage (it goes straight to the global pass, flat.py).

Inside a lineage each row is checked against the lineage's kept rows only: those that share an LSH key
with it (a band key, or a neighbour key of a small set: the keys the global search buckets rows by),
the first kept row with its exact key, then the sketch screen and exact Jaccard (walk.KeptRowChecks),
the best match by (exact before near, most similar, earliest). So a row costs the kept rows of its own
lineage that look like it, however many variations the lineage has: once a lineage stops adding
variety, its kept rows stop growing. Lineages are independent, so any split of them over workers
(distributed_lineage.py) gives the same outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stages.dedup.arrays import fold32, ragged_ranges
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.signatures import ShingleSets
from stages.dedup.walk import EXACT_RANK, Best, KeptRowChecks

NO_LINEAGE = -1  # references, and rows without a seed id
WALK_BLOCK = 65_536  # walked rows whose keys are turned into Python lists at a time


def lineage_of(row: dict[str, Any]) -> str | None:
    """The row's lineage: its `seed_id`, else the first of provenance `seed_ids`, else None."""
    seed = row.get("seed_id")
    if seed is None:
        provenance = row.get("provenance")
        seed_ids = provenance.get("seed_ids") if isinstance(provenance, dict) else None
        seed = seed_ids[0] if isinstance(seed_ids, list) and seed_ids else None
    return None if seed is None else str(seed)


class LineageNumbers:
    """Numbers lineages 0, 1, 2, ... in the order they are first seen (NO_LINEAGE for None)."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def of(self, rows: Iterable[dict[str, Any]]) -> np.ndarray:
        """The lineage number of each row (int64)."""
        found = []
        for row in rows:
            name = lineage_of(row)
            found.append(NO_LINEAGE if name is None else self.numbers.setdefault(name, len(self.numbers)))
        return np.array(found, dtype=np.int64)


def tagged_keys(
    band_keys: Sequence[np.ndarray], neighbours: tuple[np.ndarray, np.ndarray], count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every LSH key of rows 0 .. count - 1 as one uint64, (key set << 32) | 32-bit key, grouped by row:
    (offsets, int64 count + 1; values, uint64). `band_keys`: one uint32 key per row for each band (key
    sets 0 .. bands - 1); `neighbours`: (rows, uint64 keys), key set `bands`, folded to 32 bits (a
    collision only adds a candidate, which the exact check rejects)."""
    bands = len(band_keys)
    neighbour_rows, neighbour_keys = neighbours
    neighbour_counts = np.bincount(neighbour_rows, minlength=count).astype(np.int64)
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(bands + neighbour_counts, out=offsets[1:])
    values = np.empty(int(offsets[-1]), dtype=np.uint64)
    tags = np.arange(bands, dtype=np.uint64) << np.uint64(32)
    if bands and count:
        matrix = np.stack([keys.astype(np.uint64) for keys in band_keys], axis=1) | tags
        values[(offsets[:-1, None] + np.arange(bands)).ravel()] = matrix.ravel()
    order = np.argsort(neighbour_rows, kind="stable")
    rows = neighbour_rows[order]
    rank = np.arange(len(order), dtype=np.int64) - (np.cumsum(neighbour_counts) - neighbour_counts)[rows]
    tagged = fold32(neighbour_keys[order]).astype(np.uint64) | (np.uint64(bands) << np.uint64(32))
    values[offsets[rows] + bands + rank] = tagged
    return offsets, values


@dataclass
class LineageInput:
    """The rows to walk (sorted global row numbers) and, per row in that order: its lineage number, its
    LSH keys (`tagged_keys` layout), exact key (uint64), b-bit sketch ((rows, width) uint8) and shingle
    set (numbered 0, 1, 2, ... like the rows)."""

    rows: np.ndarray
    lineages: np.ndarray
    key_offsets: np.ndarray
    key_values: np.ndarray
    exact_keys: np.ndarray
    sketches: np.ndarray
    sets: ShingleSets


@dataclass
class LineageOutcome:
    """The rows the lineage walks remove, with their best match (global rows, sorted by row), and counts."""

    matched: list[tuple[int, int, float, int]] = field(default_factory=list)  # (row, rank, similarity, other)
    lineages: int = 0  # lineages walked
    rows: int = 0  # rows walked
    candidate_pairs: int = 0  # (row, kept row sharing a key) pairs the sketch did not rule out
    verified: int = 0  # ... checked on the exact shingle sets (all of them)
    confirmed: int = 0  # ... that were near-duplicates

    @classmethod
    def merged(cls, parts: Sequence[LineageOutcome]) -> LineageOutcome:
        """The outcomes of disjoint sets of lineages as one (matches sorted by row, counts summed)."""
        total = cls(sorted(match for part in parts for match in part.matched))
        for name in ("lineages", "rows", "candidate_pairs", "verified", "confirmed"):
            setattr(total, name, sum(getattr(part, name) for part in parts))
        return total


def walk_lineages(data: LineageInput, config: NearDuplicateConfig) -> LineageOutcome:
    """Walk every lineage of `data` alone, in row order (module docstring)."""
    return _LineageWalk(data, config).run()


class _LineageWalk(KeptRowChecks):
    """The walk's state for the current lineage: its kept rows by LSH key and by exact key, and their
    sketches (cleared when the next lineage starts, so memory is one lineage's kept rows)."""

    def __init__(self, data: LineageInput, config: NearDuplicateConfig) -> None:
        groups = memoryview(np.zeros(len(data.rows), dtype=np.int8))  # one group: only similarity ranks
        offsets, values = data.sets.offsets, data.sets.values
        super().__init__(config, groups, (memoryview(np.diff(offsets)), memoryview(offsets), memoryview(values)))
        self.data = data
        self.lineage: int | None = None
        self.by_key: dict[int, list[int]] = {}
        self.exact_first: dict[int, int] = {}
        self.matched: list[tuple[int, Best]] = []

    def run(self) -> LineageOutcome:
        """Walk all rows, lineage after lineage; returns the outcome in global row numbers."""
        data = self.data
        order = np.argsort(data.lineages, kind="stable")
        for first in range(0, len(order), WALK_BLOCK):
            self._walk_block(order[first : first + WALK_BLOCK])
        rows = data.rows.tolist()
        matched = [
            (rows[row], rank, round(-negative, 4), rows[other]) for row, (_, rank, negative, other) in self.matched
        ]
        walked = self.outcome
        return LineageOutcome(
            sorted(matched), lineages=len(np.unique(data.lineages)), rows=len(rows),
            candidate_pairs=walked.bucket_pairs, verified=walked.verified, confirmed=walked.confirmed,
        )  # fmt: skip

    def _walk_block(self, positions: np.ndarray) -> None:
        data = self.data
        lineages, exact = data.lineages[positions].tolist(), data.exact_keys[positions].tolist()
        starts = data.key_offsets[positions]
        counts = data.key_offsets[positions + 1] - starts
        keys = data.key_values[ragged_ranges(starts, counts)].tolist()
        bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
        packed, width = data.sketches[positions].tobytes(), data.sketches.shape[1]
        for place, row in enumerate(positions.tolist()):
            if lineages[place] != self.lineage:
                self._start(lineages[place])
            twin = self.exact_first.get(exact[place])
            if twin is not None:  # an exact copy ranks before every near-duplicate of the same group
                self.matched.append((row, (0, EXACT_RANK, -1.0, twin)))
                continue
            row_keys = keys[bounds[place] : bounds[place + 1]]
            sketch = int.from_bytes(packed[place * width : (place + 1) * width], "little")
            best = self._match(row, row_keys, sketch)
            if best is None:
                self._keep(row, row_keys, exact[place], sketch)
            else:
                self.matched.append((row, best))

    def _start(self, lineage: int) -> None:
        self.lineage = lineage
        self.by_key.clear()
        self.exact_first.clear()
        self.sketch_of.clear()

    def _match(self, row: int, row_keys: list[int], sketch: int) -> Best | None:
        """The best near-duplicate among the lineage's kept rows sharing a key with `row`, or None."""
        by_key, others = self.by_key, set()
        for key in row_keys:
            members = by_key.get(key)
            if members is not None:
                others.update(members)
        if not others:
            return None
        found = self._screened(row, sketch, others)
        self.outcome.bucket_pairs += len(found)
        return self._verified(row, found)

    def _keep(self, row: int, row_keys: list[int], exact: int, sketch: int) -> None:
        by_key = self.by_key
        for key in row_keys:
            members = by_key.get(key)
            if members is None:
                by_key[key] = [row]
            else:
                members.append(row)
        self.exact_first[exact] = row
        self.sketch_of[row] = sketch
