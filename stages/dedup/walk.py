"""Phase 4, the walk: greedy decisions in row order, so removals never chain.

Rows are walked in the order they were added (the reference kinds first, always kept, then the rows
to deduplicate). A row is removed if it matches a reference row or an earlier *kept* row, otherwise it
is kept and indexed. Only kept rows count as matches, so with a ~ b ~ c but a !~ c, b goes and c stays.

Among a row's matches the best is the smallest (group, 0 exact / 2 near, -similarity, matched row):
the most preferred group first, an exact copy before a near-duplicate, then the most similar and the
earliest row. Pairs from small buckets arrive verified (phase 3); a row of a big bucket is checked
here against the bucket's kept rows (sketch screen, then exact Jaccard), which stay few when most of
the bucket is removed. This is the only per-row Python code of the dedup, so it reads Python lists
and ints prepared block by block, never numpy scalars (~10x cheaper).

Memory: for a row of a big bucket, its sketch as a Python int while it is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from stages.dedup.arrays import contains, sorted_unique, starts_of
from stages.dedup.candidates import Candidates
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.signatures import ShingleSets
from stages.dedup.verification import VerifiedPairs, is_near_duplicate

WALK_BLOCK = 65_536  # walk rows whose inputs are turned into Python lists at a time
EXACT_RANK, NEAR_RANK = 0, 2
Best = tuple[int, int, float, int]  # (group, EXACT_RANK or NEAR_RANK, -similarity, matched row)


@dataclass
class WalkInput:
    """The walk's inputs as numpy arrays (turned into Python lists block by block, so memory stays
    proportional to the rows, not to Python objects per row). "Walk rows" are the rows with a possible
    match, in order; per walk row, values of a kind sit at [starts[i], starts[i + 1])."""

    rows: np.ndarray  # int64 walk rows, in order
    partners: np.ndarray  # int64 earlier rows each walk row is a verified near-duplicate of
    similarities: np.ndarray  # float64 Jaccard of each (walk row, partner) pair
    partner_starts: np.ndarray  # int64, walk rows + 1
    lookups: np.ndarray  # int64 big-bucket ids with an earlier member, per walk row
    lookup_starts: np.ndarray
    joins: np.ndarray  # int64 big-bucket ids with a later member, per walk row
    join_starts: np.ndarray
    buckets: int  # number of big-bucket ids
    exact_keys: np.ndarray  # uint64 per walk row
    has_twin: np.ndarray  # bool per walk row: another row has the same exact key
    sketches: np.ndarray  # (walk rows, sketch_width) uint8
    # Per row (all rows), as memoryviews of the numpy arrays: no copy, and indexing or iterating a slice
    # yields Python ints.
    groups: memoryview  # int8 group index
    sizes: memoryview  # distinct shingles
    offsets: memoryview  # where each row's shingles start in `values` (rows + 1)
    values: memoryview  # uint32 shingle hashes, row after row

    @classmethod
    def build(
        cls,
        pairs: VerifiedPairs,
        candidates: Candidates,
        exact_keys: np.ndarray,
        sketches: np.ndarray,
        groups: np.ndarray,
        sets: ShingleSets,
    ) -> WalkInput:
        """Walk inputs from the verified pairs (sorted by later row), the big-bucket entries, and per
        row (all rows): exact keys, sketches, group indices and shingle sets."""
        rows = candidates.bucket_rows
        walk = sorted_unique(np.concatenate([pairs.earlier, pairs.later, rows]), in_place=True)
        ordered = np.sort(exact_keys)
        twins = sorted_unique(ordered[1:][ordered[1:] == ordered[:-1]])
        return cls(
            rows=walk,
            partners=pairs.earlier,
            similarities=pairs.similarities,
            partner_starts=starts_of(pairs.later, walk),
            lookups=candidates.bucket_ids[candidates.has_earlier],
            lookup_starts=starts_of(rows[candidates.has_earlier], walk),
            joins=candidates.bucket_ids[candidates.has_later],
            join_starts=starts_of(rows[candidates.has_later], walk),
            buckets=candidates.buckets,
            exact_keys=exact_keys[walk],
            has_twin=contains(twins, exact_keys[walk]),
            sketches=sketches[walk],
            groups=memoryview(groups),
            sizes=memoryview(np.diff(sets.offsets)),
            offsets=memoryview(sets.offsets),
            values=memoryview(sets.values),
        )


@dataclass
class WalkOutcome:
    """The rows the walk removes, with their best match, and the big-bucket pair counts."""

    matched: list[tuple[int, Best]] = field(default_factory=list)  # (row, best), in row order
    bucket_pairs: int = 0  # big-bucket pairs the sketch did not rule out
    verified: int = 0  # ... checked on their exact sets
    confirmed: int = 0  # ... that were near-duplicates


def greedy_walk(
    walk: WalkInput, config: NearDuplicateConfig, dedup_group: int, extra_rank: Mapping[int, int]
) -> WalkOutcome:
    """Decide every walk row in order. Rows of groups other than `dedup_group` are references (always
    kept). `extra_rank` maps rows removed elsewhere (n-gram decontamination) to their match's group:
    such a row is never kept, and is reported here only as an exact copy of a row of an earlier or
    equal group (exact beats n-gram)."""
    return _GreedyWalk(walk, config, dedup_group, extra_rank).run()


@dataclass
class _Block:
    """One block of walk rows, as Python lists (starts relative to the block's values)."""

    rows: list[int]
    partners: list[int]
    similarities: list[float]
    partner_starts: list[int]
    lookups: list[int]
    lookup_starts: list[int]
    joins: list[int]
    join_starts: list[int]
    exact_keys: list[int]
    has_twin: list[bool]
    packed: bytes  # the rows' sketches, `width` bytes each
    width: int

    def sketch(self, position: int) -> int:
        """The sketch of the walk row at `position` as one Python int."""
        return int.from_bytes(self.packed[position * self.width : (position + 1) * self.width], "little")


def _block(walk: WalkInput, first: int) -> _Block:
    span = slice(first, first + WALK_BLOCK)
    rows = walk.rows[span].tolist()
    partners, partner_starts = _block_lists(walk.partners, walk.partner_starts, first, len(rows))
    similarities, _ = _block_lists(walk.similarities, walk.partner_starts, first, len(rows))
    lookups, lookup_starts = _block_lists(walk.lookups, walk.lookup_starts, first, len(rows))
    joins, join_starts = _block_lists(walk.joins, walk.join_starts, first, len(rows))
    return _Block(
        rows, partners, similarities, partner_starts, lookups, lookup_starts, joins, join_starts,
        walk.exact_keys[span].tolist(), walk.has_twin[span].tolist(), walk.sketches[span].tobytes(),
        walk.sketches.shape[1],
    )  # fmt: skip


def _block_lists(values: np.ndarray, starts: np.ndarray, first: int, count: int) -> tuple[list, list[int]]:
    """The values of walk rows first .. first + count as one list, and their starts relative to it."""
    local = starts[first : first + count + 1]
    return values[local[0] : local[-1]].tolist(), (local - local[0]).tolist()


class KeptRowChecks:
    """A row checked against kept rows one by one (a big bucket's here, a lineage's in lineage.py):
    the sketch screen, then exact Jaccard. Rows index `groups` and the shingle sets (`sizes`, `offsets`,
    `values`, memoryviews); `sketch_of` holds the sketches (Python ints) of the kept rows so checked."""

    def __init__(
        self, config: NearDuplicateConfig, groups: memoryview, sets: tuple[memoryview, memoryview, memoryview]
    ) -> None:
        self.config, self.groups = config, groups
        self.sizes, self.offsets, self.values = sets
        self.sketch_of: dict[int, int] = {}
        self.lanes_mask = int("1" * 2 * config.sketch_width, 16)  # the low bit of each 4-bit lane
        self.outcome = WalkOutcome()

    def _screened(self, row: int, sketch: int, others: Iterable[int]) -> list[int]:
        """The rows of `others` whose sketch is close enough to `row`'s (pairs with a small set pass)."""
        sizes, small_limit = self.sizes, self.config.small_limit
        if sizes[row] <= small_limit:
            return list(others)
        found = []
        max_differing, lanes_mask, sketch_of = self.config.max_differing_lanes, self.lanes_mask, self.sketch_of
        for other in others:
            if sizes[other] > small_limit:
                differing = sketch ^ sketch_of[other]
                differing |= differing >> 1
                differing |= differing >> 2
                if (differing & lanes_mask).bit_count() > max_differing:
                    continue
            found.append(other)
        return found

    def _verified(self, row: int, found: list[int]) -> Best | None:
        """The best of `found` that is a near-duplicate of `row` on the exact shingle sets, or None."""
        if not found:
            return None
        values, offsets, groups = self.values, self.offsets, self.groups
        threshold, max_difference = self.config.threshold, self.config.max_difference
        own = set(values[offsets[row] : offsets[row + 1]])
        best: Best | None = None
        for other in found:
            theirs = values[offsets[other] : offsets[other + 1]]
            common = len(own.intersection(theirs))
            union = len(own) + len(theirs) - common
            self.outcome.verified += 1
            if is_near_duplicate(common, union, threshold, max_difference):
                self.outcome.confirmed += 1
                candidate = (groups[other], NEAR_RANK, -(common / union), other)
                if best is None or candidate < best:
                    best = candidate
        return best


class _GreedyWalk(KeptRowChecks):
    """The walk's state: which rows are kept, the kept rows of each big bucket, the first kept row of
    each repeated exact key, and the sketches of kept big-bucket rows."""

    def __init__(
        self, walk: WalkInput, config: NearDuplicateConfig, dedup_group: int, extra_rank: Mapping[int, int]
    ) -> None:
        super().__init__(config, walk.groups, (walk.sizes, walk.offsets, walk.values))
        self.walk = walk
        self.dedup_group, self.extra_rank = dedup_group, extra_rank
        self.kept = bytearray(len(walk.groups))  # 1 once a row has been walked and kept
        self.members: list[list[int] | None] = [None] * walk.buckets  # kept rows per big bucket
        self.exact_first: dict[int, int] = {}  # first kept row per exact key that another row shares

    def run(self) -> WalkOutcome:
        """Walk all blocks; returns the outcome."""
        for first in range(0, len(self.walk.rows), WALK_BLOCK):
            self._walk_block(_block(self.walk, first))
        return self.outcome

    def _walk_block(self, block: _Block) -> None:
        groups, dedup_group, extra_rank = self.groups, self.dedup_group, self.extra_rank
        partner_starts, lookup_starts = block.partner_starts, block.lookup_starts
        matched = self.outcome.matched
        for position, row in enumerate(block.rows):
            best = None
            if groups[row] == dedup_group and (
                partner_starts[position] < partner_starts[position + 1]
                or lookup_starts[position] < lookup_starts[position + 1]
            ):
                best = self._best_match(block, position, row)
            if row in extra_rank:  # removed by `extra` anyway, so never kept
                if best is not None and best[1] == EXACT_RANK and best[0] <= extra_rank[row]:
                    matched.append((row, best))
            elif best is not None:
                matched.append((row, best))
            else:
                self._keep(block, position, row)

    def _best_match(self, block: _Block, position: int, row: int) -> Best | None:
        """The best kept match of a row of the deduplicated group, or None."""
        groups, kept = self.groups, self.kept
        same = self.exact_first.get(block.exact_keys[position]) if block.has_twin[position] else None
        best: Best | None = None if same is None else (groups[same], EXACT_RANK, -1.0, same)
        start, end = block.partner_starts[position], block.partner_starts[position + 1]
        partners = block.partners[start:end]
        for other, similarity in zip(partners, block.similarities[start:end], strict=True):
            if kept[other] and other != same:
                candidate = (groups[other], NEAR_RANK, -similarity, other)
                if best is None or candidate < best:
                    best = candidate
        lookups = block.lookups[block.lookup_starts[position] : block.lookup_starts[position + 1]]
        if lookups:
            candidate = self._bucket_match(block, position, row, lookups, {*partners, same})
            if candidate is not None and (best is None or candidate < best):
                best = candidate
        return best

    def _bucket_match(
        self, block: _Block, position: int, row: int, lookups: list[int], known: set[int | None]
    ) -> Best | None:
        """The best near-duplicate among the kept rows of the big buckets `row` looks up (rows in
        `known` are matched already), checked here: sketch screen, then exact Jaccard."""
        others: set[int] = set()
        for bucket in lookups:
            bucket_rows = self.members[bucket]
            if bucket_rows:
                others.update(bucket_rows)
        others.difference_update(known)
        if not others:
            return None
        found = self._screened(row, block.sketch(position), others)
        self.outcome.bucket_pairs += len(found)
        return self._verified(row, found)

    def _keep(self, block: _Block, position: int, row: int) -> None:
        """Mark `row` kept (references always are): index its exact key and join its big buckets."""
        self.kept[row] = 1
        if block.has_twin[position]:
            self.exact_first.setdefault(block.exact_keys[position], row)
        start, end = block.join_starts[position], block.join_starts[position + 1]
        if start < end:
            self.sketch_of[row] = block.sketch(position)
            for bucket in block.joins[start:end]:
                bucket_rows = self.members[bucket]
                if bucket_rows is None:
                    self.members[bucket] = [row]
                else:
                    bucket_rows.append(row)
