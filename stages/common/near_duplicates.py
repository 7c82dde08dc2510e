"""Greedy near-duplicate removal over many rows: exact keys, MinHash LSH candidates, exact Jaccard.

Texts are added in order: the reference kinds first (e.g. eval, then seeds; always kept), then the rows
to deduplicate. `resolve()` walks the rows in order; a row is removed if it matches a reference row or
an earlier *kept* row, otherwise it is kept and indexed. Only kept rows enter the index, so removals
never chain: with a ~ b ~ c but a !~ c, b goes and c stays.

A match is the same normalised text, or a candidate verified on the exact shingle sets A, B:
    Jaccard(A, B) >= threshold,  or  |A xor B| <= max_difference and Jaccard(A, B) >= 0.5.
The second clause is for short texts: one swapped word in a 6-word turn is Jaccard 0.71, below any
threshold that keeps distinct turns wrapped in one template frame apart (those reach 0.76 on the seeds),
but it is a difference of 2 words, while such distinct turns differ by many more (bench_dedup.py).

Candidates come from two kinds of buckets: MinHash bands (rows agreeing on all `rows_per_band` values of
a band), and, for sets small enough that the second clause can matter, exact neighbour keys (the set,
and the set minus each shingle), so that clause does not depend on LSH luck. Buckets are found by
sorting keys in numpy; a row alone in every bucket never enters the Python walk.

Near-duplicate-rich data (synthetic variations of few seeds; queries reused across rows) makes many
candidates share a band with Jaccard ~0.3-0.5. Before the exact check, a candidate pair of large sets
is screened with a b-bit MinHash sketch (the low 4 bits of each signature value, one Python int per
row, compared with one XOR and a popcount): pairs whose estimated Jaccard is more than 4.5 standard
deviations below the threshold are dropped (a pair exactly at the threshold is lost with p ~ 3e-6).

Memory per row: its distinct shingle hashes (4 bytes each), one bucket id per band (4 bytes each),
num_perm / 2 bytes of sketch, and the sketch as a Python int while the row is kept and indexed.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stages.common.minhash import (
    ShingleSets,
    Signer,
    TokenisedBatch,
    band_keys,
    bucket_runs,
    candidate_probability,
    dense_ids,
    fmix64,
    fold32,
    shingle_sets,
    sorted_unique,
)

EXACT, NGRAM, NEAR = "exact", "ngram", "near"
SMALL_DIFFERENCE_MIN_JACCARD = 0.5  # below this the texts differ in more shingles than they share
MAX_SMALL_SET = 64  # neighbour keys cost one key per shingle: only for small sets
SKETCH_BITS = 4
SKETCH_MARGIN_SD = 4.5
_WALK_BLOCK = 65_536  # rows whose bucket ids are turned into Python lists at a time
_SCREEN_BUCKET = 32  # buckets up to this size become screened candidate pairs; bigger ones stay buckets
_SCREEN_CHUNK = 262_144  # pairs screened per numpy step
# number of 4-bit lanes that are not zero, for each byte value
_DIFFERING_LANES = np.array([(b & 0xF != 0) + (b >> 4 != 0) for b in range(256)], dtype=np.uint8)
_NEIGHBOUR_SALT = np.uint64(0x5851F42D4C957F2D)


def is_near_duplicate(common: int, union: int, threshold: float, max_difference: int) -> bool:
    """The verification rule on exact shingle sets: `common` = |A & B|, `union` = |A | B|."""
    similarity = common / union if union else 1.0
    return similarity >= threshold or (union - common <= max_difference and similarity >= SMALL_DIFFERENCE_MIN_JACCARD)


def small_set_limit(threshold: float, max_difference: int) -> int:
    """Largest set size at which the max_difference clause can accept a pair the threshold rejects:
    with |A xor B| <= d and |A | B| >= d / (1 - t), Jaccard is already >= t."""
    if max_difference <= 0:
        return 0
    if threshold >= 1:
        return MAX_SMALL_SET
    return min(MAX_SMALL_SET, math.ceil(max_difference / (1 - threshold) - 1e-9) - 1)


def neighbour_keys(sets: ShingleSets, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, key) for rows of at most `limit` shingles: a key of the set, and for sets of 2 or more a key
    of the set minus each shingle. One substituted shingle: both sets have the same minus-one key; one
    inserted shingle: the smaller set's key is a minus-one key of the larger."""
    sizes = np.diff(sets.offsets)
    small = np.flatnonzero(sizes <= limit)
    counts = sizes[small]
    firsts = np.cumsum(counts) - counts
    members = np.repeat(sets.offsets[small], counts) + np.arange(int(counts.sum())) - np.repeat(firsts, counts)
    mixed = fmix64(sets.values[members].astype(np.uint64) + _NEIGHBOUR_SALT)
    totals = np.add.reduceat(mixed, firsts) if len(firsts) else np.zeros(0, dtype=np.uint64)
    several = np.repeat(counts >= 2, counts)
    minus_one = np.repeat(totals, counts)[several] - mixed[several]
    rows = np.concatenate([small, np.repeat(small, counts)[several]])
    return rows, np.concatenate([totals, minus_one])


def sketch_screen(threshold: float, num_perm: int) -> int:
    """Most differing 4-bit lanes a pair at `threshold` shows, plus SKETCH_MARGIN_SD standard deviations.
    Equal minima give equal lanes; different ones agree by chance with p = 1/16."""
    chance = 1 / 2**SKETCH_BITS
    agree = threshold + (1 - threshold) * chance
    spread = math.sqrt(agree * (1 - agree) / num_perm)
    return math.floor(num_perm * (1 - agree + SKETCH_MARGIN_SD * spread))


def sketch_bytes(signatures: np.ndarray) -> np.ndarray:
    """Low 4 bits of each signature value, two per byte: (rows, ceil(num_perm / 2)) uint8."""
    lanes = (signatures & np.uint32(0xF)).astype(np.uint8)
    if lanes.shape[1] % 2:
        lanes = np.concatenate([lanes, np.zeros((len(lanes), 1), dtype=np.uint8)], axis=1)  # never differs
    return lanes[:, 0::2] | (lanes[:, 1::2] << np.uint8(4))


@dataclass(frozen=True)
class Match:
    """Why a row is removed: `kind` (exact/ngram/near) of which `group`, matching row `index`."""

    kind: str
    group: str
    index: int
    similarity: float

    @property
    def reason(self) -> str:
        return f"{self.kind}_{self.group}"


@dataclass
class Resolution:
    """Per added row: the match that removes it (None: kept; reference rows are always kept)."""

    matches: list[Match | None]
    candidate_pairs: int = 0  # pairs sharing a bucket that the sketch did not rule out
    verified: int = 0  # pairs checked on the exact shingle sets (one row kept, the other being decided)
    confirmed: int = 0  # ... that were near-duplicates


@dataclass
class _Walk:
    """Inputs of the greedy walk as numpy arrays (the walk turns them into Python lists block by block,
    so memory stays proportional to the rows, not to Python objects per row)."""

    rows: np.ndarray  # rows with a possible match, in order
    partners: np.ndarray  # earlier rows each walk row may match (screened pairs), walk row after walk row
    partner_starts: np.ndarray  # where each walk row's partners start (walk rows + 1)
    lookups: np.ndarray  # big-bucket ids with an earlier member, likewise
    lookup_starts: np.ndarray
    joins: np.ndarray  # big-bucket ids with a later member, likewise
    join_starts: np.ndarray
    buckets: int  # number of big-bucket ids
    exact_keys: np.ndarray  # per walk row
    has_twin: np.ndarray  # per walk row: another row has the same exact key
    sketches: np.ndarray  # per walk row: the packed b-bit sketch
    groups: array  # per row (all rows): compact, and indexing yields Python ints
    sizes: array  # distinct shingles per row
    offsets: array  # where each row's shingles start in `values`
    values: array  # shingle hashes, row after row (an `array` slice is cheaper to iterate than numpy's)


class NearDuplicateFinder:
    """Collects rows batch by batch, then decides greedily in row order (see module docstring)."""

    def __init__(
        self,
        groups: Sequence[str],
        *,
        ngram: int,
        num_perm: int,
        bands: int,
        rows_per_band: int,
        threshold: float,
        max_difference: int = 0,
    ) -> None:
        """`groups`: names in order of preference; the last is the group being deduplicated,
        the others are references (always kept) and must all be added before it."""
        if bands * rows_per_band > num_perm:
            raise ValueError(f"bands x rows_per_band = {bands * rows_per_band} exceeds num_perm = {num_perm}")
        self.groups = list(groups)
        self.ngram = ngram
        self.bands = bands
        self.rows_per_band = rows_per_band
        self.threshold = threshold
        self.max_difference = max_difference
        self.small_limit = small_set_limit(threshold, max_difference)
        self.max_differing_lanes = sketch_screen(threshold, num_perm)
        self.signer = Signer(num_perm)
        self._sketch_width = (num_perm + 1) // 2
        self._group_of: list[np.ndarray] = []
        self._exact: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._sketches: list[np.ndarray] = []
        self._neighbour_rows: list[np.ndarray] = []
        self._neighbour_keys: list[np.ndarray] = []
        self._band_keys: list[list[np.ndarray]] = [[] for _ in range(bands)]
        self._count = 0
        self._last_group = 0
        self._candidate_pairs = 0

    def __len__(self) -> int:
        return self._count

    def candidate_probability(self, similarity: float) -> float:
        return candidate_probability(similarity, self.bands, self.rows_per_band)

    def add(self, batch: TokenisedBatch, group: int) -> range:
        """Add a batch of rows of `group` (index into `groups`); returns their row indices."""
        if group < self._last_group:
            raise ValueError("add reference groups first, in order, then the rows to deduplicate")
        self._last_group = group
        first = self._count
        sets = shingle_sets(batch, self.ngram)
        signatures = self.signer.signatures(sets)
        for band, band_values in enumerate(band_keys(signatures, self.bands, self.rows_per_band)):
            # stored as 32 bits to halve the largest arrays: a collision only adds a candidate pair,
            # which the sketch and the exact check then reject
            self._band_keys[band].append(fold32(band_values))
        self._sketches.append(sketch_bytes(signatures))
        if self.small_limit:
            rows, keys = neighbour_keys(sets, self.small_limit)
            self._neighbour_rows.append(rows + first)
            self._neighbour_keys.append(keys)
        self._values.append(sets.values)
        self._lengths.append(np.diff(sets.offsets))
        self._exact.append(batch.exact_keys)
        self._group_of.append(np.full(len(batch), group, dtype=np.int8))
        self._count += len(batch)
        return range(first, self._count)

    def resolve(self, extra: Mapping[int, Match] | None = None) -> Resolution:
        """Decide every row. `extra` gives matches found elsewhere (n-gram decontamination) for rows of
        the deduplicated group: such a row is removed, reported as `extra` unless it is an exact copy
        of a row of an earlier-or-equal group (exact beats n-gram beats MinHash, group by group)."""
        extra = extra or {}
        walk = self._prepare_walk()
        result = Resolution([None] * self._count)
        for row, match in extra.items():
            result.matches[row] = match
        result.candidate_pairs = len(walk.partners)
        extra_rank = {row: self.groups.index(match.group) for row, match in extra.items()}
        for row, best in _greedy_walk(walk, extra_rank, self, result):
            group, rank, negative_similarity, other = best
            result.matches[row] = Match(
                EXACT if rank == 0 else NEAR, self.groups[group], other, round(-negative_similarity, 4)
            )
        return result

    def _prepare_walk(self) -> _Walk:
        total = self._count
        lengths = np.concatenate(self._lengths) if total else np.zeros(0, dtype=np.int64)
        sketches = np.concatenate(self._sketches) if total else np.zeros((0, self._sketch_width), dtype=np.uint8)
        self._lengths, self._sketches = [], []
        (earlier, later), (rows, bucket, has_earlier, has_later) = self._candidates(sketches, lengths)
        walk = sorted_unique(np.concatenate([earlier, later, rows]))
        exact_keys = np.concatenate(self._exact) if total else np.zeros(0, dtype=np.uint64)
        self._exact = []
        ordered = np.sort(exact_keys)
        twins = sorted_unique(ordered[1:][ordered[1:] == ordered[:-1]])
        offsets = np.zeros(total + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        groups = np.concatenate(self._group_of) if total else np.zeros(0, dtype=np.int8)
        self._group_of = []
        walk_state = _Walk(
            rows=walk,
            partners=earlier,
            partner_starts=_starts(later, walk),
            lookups=bucket[has_earlier],
            lookup_starts=_starts(rows[has_earlier], walk),
            joins=bucket[has_later],
            join_starts=_starts(rows[has_later], walk),
            buckets=int(bucket.max(initial=-1)) + 1,
            exact_keys=exact_keys[walk],
            has_twin=_contains(twins, exact_keys[walk]),
            sketches=sketches[walk],
            groups=array("b", groups.tobytes()),
            sizes=array("q", lengths.astype(np.int64).tobytes()),
            offsets=array("q", offsets.tobytes()),
            values=array("I", (np.concatenate(self._values) if total else np.zeros(0, dtype=np.uint32)).tobytes()),
        )
        self._values = []
        return walk_state

    def _candidates(
        self, sketches: np.ndarray, sizes: np.ndarray
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Candidate pairs (earlier row, later row), deduplicated and sorted by the later row, from buckets
        of up to _SCREEN_BUCKET rows, with the pairs the sketch rejects dropped; and for bigger buckets,
        (row, dense bucket id, has earlier member, has later member) entries sorted by row, which the
        walk checks against the bucket's kept rows as it goes (such buckets are rare)."""
        total = max(self._count, 1)
        pair_keys: list[np.ndarray] = []  # later * total + earlier, unique per band
        entries: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        numbered = 0  # ids of earlier key sets' buckets, so that ids differ across bands
        for band in range(self.bands):
            keys = np.concatenate(self._band_keys[band]) if self._count else np.zeros(0, dtype=np.uint32)
            self._band_keys[band] = []  # free as we go: band keys are the largest arrays
            numbered = self._split_buckets(keys, None, True, sketches, sizes, numbered, pair_keys, entries)
        if self._neighbour_keys:  # pairs of small sets: never screened
            keys, rows = np.concatenate(self._neighbour_keys), np.concatenate(self._neighbour_rows)
            self._split_buckets(keys, rows, False, sketches, sizes, numbered, pair_keys, entries)
        self._neighbour_rows, self._neighbour_keys = [], []
        unique = sorted_unique(np.concatenate(pair_keys)) if pair_keys else np.zeros(0, dtype=np.int64)
        pair_keys.clear()
        earlier, later = unique % total, unique // total  # a pair sharing several buckets counts once
        if entries:
            rows = np.concatenate([entry[0] for entry in entries])
            order = np.argsort(rows, kind="stable")
            rows = rows[order]
            dense = dense_ids(np.concatenate([entry[1] for entry in entries])[order])
            flags = [np.concatenate([entry[i] for entry in entries])[order] for i in (2, 3)]
            return (earlier, later), (rows, dense, flags[0], flags[1])
        empty = np.zeros(0, dtype=np.int64)
        return (earlier, later), (empty, empty, empty.astype(bool), empty.astype(bool))

    def _split_buckets(
        self,
        keys: np.ndarray,
        rows: np.ndarray | None,
        screen: bool,
        sketches: np.ndarray,
        sizes: np.ndarray,
        numbered: int,
        pair_keys: list[np.ndarray],
        entries: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    ) -> int:
        """Add one key set's buckets to `pair_keys` (small buckets, screened) or `entries` (big
        buckets); returns `numbered` advanced past this key set's bucket ids."""
        first, last, run = bucket_runs(keys, rows)
        shared = np.flatnonzero(first >= 0)
        members = shared if rows is None else rows[shared]
        runs = run[shared]
        order = np.argsort(runs)
        members, runs, first, last = members[order], runs[order], first[shared][order], last[shared][order]
        run_start = np.flatnonzero(np.concatenate([[True], runs[1:] != runs[:-1]])) if len(runs) else runs
        run_size = np.diff(np.append(run_start, len(runs)))
        big = np.repeat(run_size > _SCREEN_BUCKET, run_size)
        if big.any():
            entries.append((members[big], runs[big] + numbered, first[big] < members[big], last[big] > members[big]))
        # every pair of members of each small bucket
        position = np.arange(len(members)) - np.repeat(run_start, run_size)
        partners = np.where(big, 0, position)
        second = np.repeat(np.arange(len(members)), partners)
        first_member = np.repeat(np.repeat(run_start, run_size), partners) + (
            np.arange(len(second)) - np.repeat(np.cumsum(partners) - partners, partners)
        )
        a, b = members[first_member], members[second]
        if screen:
            keep = np.zeros(len(a), dtype=bool)
            for low in range(0, len(a), _SCREEN_CHUNK):  # chunks bound the (pairs x sketch) temporaries
                part = slice(low, low + _SCREEN_CHUNK)
                differing = _DIFFERING_LANES[sketches[a[part]] ^ sketches[b[part]]].sum(axis=1, dtype=np.int32)
                small = (sizes[a[part]] <= self.small_limit) | (sizes[b[part]] <= self.small_limit)
                keep[part] = small | (differing <= self.max_differing_lanes)
            a, b = a[keep], b[keep]
        pair_keys.append(sorted_unique(np.maximum(a, b) * max(self._count, 1) + np.minimum(a, b)))
        return numbered + int(run.max(initial=-1)) + 1


def _contains(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Membership of each query in a sorted array (np.isin without its slow paths)."""
    if not len(sorted_values):
        return np.zeros(len(queries), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, queries), len(sorted_values) - 1)
    return sorted_values[at] == queries


def _starts(rows: np.ndarray, walk: np.ndarray) -> np.ndarray:
    """For values sorted by `rows`: where the values of each row of `walk` start (len(walk) + 1)."""
    return np.append(np.searchsorted(rows, walk), len(rows))


def _greedy_walk(
    walk: _Walk, extra_rank: dict[int, int], finder: NearDuplicateFinder, result: Resolution
) -> list[tuple[int, tuple[int, int, float, int]]]:
    """Rows in order: match each against its kept candidate partners and the kept rows of the big buckets
    it looks up; if it is kept, mark it and join its big buckets. Returns (row, best) for rows matched
    by MinHash or exact key, best = (group, 0 exact / 2 near, -similarity, matched row), the smallest
    such tuple. This loop is the only per-row Python code of the dedup, so it is kept tight."""
    dedup_group = len(finder.groups) - 1
    threshold, max_difference, small_limit = finder.threshold, finder.max_difference, finder.small_limit
    max_differing, lanes_mask = finder.max_differing_lanes, int("1" * 2 * finder._sketch_width, 16)
    floor = SMALL_DIFFERENCE_MIN_JACCARD
    groups, sizes, offsets, values = walk.groups, walk.sizes, walk.offsets, walk.values
    kept = bytearray(len(groups))  # 1 once a row has been walked and kept
    members: list[list[int] | None] = [None] * walk.buckets  # kept rows per big bucket
    exact_first: dict[int, int] = {}  # rows whose exact key another row shares
    sketch_of: dict[int, int] = {}  # kept rows of big buckets
    matched: list[tuple[int, tuple[int, int, float, int]]] = []
    bucket_pairs = verified = confirmed = 0
    for block in range(0, len(walk.rows), _WALK_BLOCK):
        span = slice(block, block + _WALK_BLOCK)
        rows = walk.rows[span].tolist()
        partners_all, partner_starts = _block_lists(walk.partners, walk.partner_starts, block, len(rows))
        lookups_all, lookup_starts = _block_lists(walk.lookups, walk.lookup_starts, block, len(rows))
        joins_all, join_starts = _block_lists(walk.joins, walk.join_starts, block, len(rows))
        exact_keys, has_twin = walk.exact_keys[span].tolist(), walk.has_twin[span].tolist()
        packed, width = walk.sketches[span].tobytes(), walk.sketches.shape[1]
        for position, row in enumerate(rows):
            best: tuple[int, int, float, int] | None = None
            partners = partners_all[partner_starts[position] : partner_starts[position + 1]]
            lookups = lookups_all[lookup_starts[position] : lookup_starts[position + 1]]
            if (partners or lookups) and groups[row] == dedup_group:
                same = exact_first.get(exact_keys[position]) if has_twin[position] else None
                if same is not None:
                    best = (groups[same], 0, -1.0, same)
                found = [other for other in partners if kept[other] and other != same]  # screened already
                if lookups:
                    from_buckets: set[int] = set()
                    for bucket in lookups:
                        bucket_rows = members[bucket]
                        if bucket_rows:
                            from_buckets.update(bucket_rows)
                    from_buckets.difference_update(found)
                    from_buckets.discard(same)  # type: ignore[arg-type]
                    sketch = int.from_bytes(packed[position * width : (position + 1) * width], "little")
                    row_is_large = sizes[row] > small_limit
                    for other in from_buckets:
                        if row_is_large and sizes[other] > small_limit:
                            differing = sketch ^ sketch_of[other]
                            differing |= differing >> 1
                            differing |= differing >> 2
                            if (differing & lanes_mask).bit_count() > max_differing:
                                continue
                        found.append(other)
                        bucket_pairs += 1
                if found:
                    own = set(values[offsets[row] : offsets[row + 1]])
                    for other in found:
                        theirs = values[offsets[other] : offsets[other + 1]]
                        common = len(own.intersection(theirs))
                        union = len(own) + len(theirs) - common
                        verified += 1
                        similarity = common / union
                        if similarity >= threshold or (union - common <= max_difference and similarity >= floor):
                            confirmed += 1
                            candidate = (groups[other], 2, -similarity, other)
                            if best is None or candidate < best:
                                best = candidate
            if extra_rank and row in extra_rank:  # removed by `extra` anyway, so never a candidate
                if best is not None and best[1] == 0 and best[0] <= extra_rank[row]:
                    matched.append((row, best))
                continue
            if best is not None:
                matched.append((row, best))
                continue
            kept[row] = 1  # kept (references always are)
            if has_twin[position]:
                exact_first.setdefault(exact_keys[position], row)
            if join_starts[position] < join_starts[position + 1]:
                sketch_of[row] = int.from_bytes(packed[position * width : (position + 1) * width], "little")
                for bucket in joins_all[join_starts[position] : join_starts[position + 1]]:
                    bucket_rows = members[bucket]
                    if bucket_rows is None:
                        members[bucket] = [row]
                    else:
                        bucket_rows.append(row)
    result.candidate_pairs += bucket_pairs
    result.verified, result.confirmed = verified, confirmed
    return matched


def _block_lists(values: np.ndarray, starts: np.ndarray, block: int, count: int) -> tuple[list[int], list[int]]:
    """The values of walk rows block .. block + count as one list, and their starts relative to it."""
    local = starts[block : block + count + 1]
    return values[local[0] : local[-1]].tolist(), (local - local[0]).tolist()
