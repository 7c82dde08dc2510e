"""Phase 2, candidates: banding, band-key grouping, and buckets turned into pairs or kept as buckets.

Candidates come from two kinds of buckets: MinHash bands (rows agreeing on all `rows_per_band` values of
a band; the same pairs datasketch's `MinHashLSH` with those (bands, rows) finds, tests check this), and,
for sets small enough that the max_difference clause can matter, exact neighbour keys (the set, and the
set minus each shingle), so that clause does not depend on LSH luck. Buckets are found by sorting keys
in numpy; a row alone in every bucket never leaves numpy.

A bucket becomes candidate pairs (every pair of its rows) while its key set's pairs stay within a
budget per row (`NearDuplicateConfig.pairs_per_row`); a bigger bucket (thousands of copies of one text)
stays a bucket, and the walk checks each of its rows against the bucket's kept rows only.

Near-duplicate-rich data makes many candidate pairs with Jaccard ~0.4-0.7, and their number grows faster
than the rows (BENCHMARKS.md, "Scaling"). So a pair of large sets is first screened with the b-bit
sketches (compared by XOR and popcount): pairs whose estimated Jaccard is more than
SKETCH_MARGIN_SD standard deviations below the threshold are dropped (a pair exactly at the threshold
is lost with p ~ 3e-6). Pairs of small sets are never screened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from stages.dedup.arrays import contains, dense_ids, fmix64, ragged_ranges, sorted_unique, splitmix64
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.signatures import ShingleSets

# One multiplier per value inside a band, to hash a band's values to one 64-bit key.
BAND_MULTIPLIERS = splitmix64(1024, salt=77)
PAIR_CHUNK = 262_144  # pairs made and screened per numpy step: bounds the (pairs x sketch) temporaries
_LOW_BIT_OF_EACH_LANE = np.uint64(0x1111111111111111)
_NEIGHBOUR_SALT = np.uint64(0x5851F42D4C957F2D)


def band_keys(signatures: np.ndarray, bands: int, rows_per_band: int) -> np.ndarray:
    """64-bit hash of each band of each signature: (rows, num_perm) uint32 signatures give
    (bands, rows) uint64 keys; equal bands give equal keys (a collision only adds a candidate)."""
    used = signatures[:, : bands * rows_per_band].astype(np.uint64).reshape(len(signatures), bands, rows_per_band)
    keys = used[:, :, 0] * BAND_MULTIPLIERS[0]
    for position in range(1, rows_per_band):
        keys += used[:, :, position] * BAND_MULTIPLIERS[position]
    return np.ascontiguousarray(keys.T)


def candidate_probability(similarity: float, bands: int, rows_per_band: int) -> float:
    """Chance that a pair with this Jaccard shares at least one band: 1 - (1 - s^r)^b."""
    return 1.0 - (1.0 - similarity**rows_per_band) ** bands


def neighbour_keys(sets: ShingleSets, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, key) for rows of at most `limit` shingles (int64 rows, uint64 keys): a key of the set, and
    for sets of 2 or more a key of the set minus each shingle. One substituted shingle: both sets have
    the same minus-one key; one inserted shingle: the smaller set's key is a minus-one key of the larger."""
    sizes = np.diff(sets.offsets)
    small = np.flatnonzero(sizes <= limit)
    counts = sizes[small]
    firsts = np.cumsum(counts) - counts
    members = ragged_ranges(sets.offsets[small], counts)
    mixed = fmix64(sets.values[members].astype(np.uint64) + _NEIGHBOUR_SALT)
    totals = np.add.reduceat(mixed, firsts) if len(firsts) else np.zeros(0, dtype=np.uint64)
    several = np.repeat(counts >= 2, counts)
    minus_one = np.repeat(totals, counts)[several] - mixed[several]
    rows = np.concatenate([small, np.repeat(small, counts)[several]])
    return rows, np.concatenate([totals, minus_one])


def shared_runs(keys: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose key another row holds too, grouped by key: (members, bounds), the members of the
    i-th key being members[bounds[i] : bounds[i + 1]], in no particular order. `rows` names the entries
    (default 0, 1, 2, ...). Rows alone with their key, most of them, never leave this function."""
    if rows is None:
        rows = np.arange(len(keys), dtype=np.int64)
    order = np.argsort(keys)  # not stable (2.5x faster): callers do not rely on the order inside a key
    ordered = keys[order]
    same = ordered[1:] == ordered[:-1]
    shared = np.zeros(len(keys), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    members, shared_keys = rows[order[shared]], ordered[shared]
    if not len(members):
        return members, np.zeros(1, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], shared_keys[1:] != shared_keys[:-1]]))
    return members, np.append(starts, len(members))


def candidate_pairs(keys: np.ndarray) -> set[tuple[int, int]]:
    """Every pair (i < j) sharing a band of (bands, rows) `keys`: the reference for tests and the
    benchmark (quadratic in bucket sizes; the stage uses `find_candidates`)."""
    pairs: set[tuple[int, int]] = set()
    for band in keys:
        members, bounds = shared_runs(band)
        for low, high in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            rows = sorted(members[low:high].tolist())
            pairs.update((a, b) for index, a in enumerate(rows) for b in rows[index + 1 :])
    return pairs


def differing_lanes(differences: np.ndarray) -> np.ndarray:
    """Per row of XORed (pairs, sketch_width) uint8 sketches, the number of 4-bit lanes that are not
    zero (a popcount per 64 bits): int32 per pair. Overwrites `differences` (a temporary in every
    caller) to spare a copy."""
    words = differences.view(np.uint64)
    words |= words >> np.uint64(2)
    words |= words >> np.uint64(1)
    words &= _LOW_BIT_OF_EACH_LANE
    return np.bitwise_count(words).sum(axis=1, dtype=np.int32)


@dataclass
class Candidates:
    """Phase 2's result over all rows (row = index in the order rows were added).

    Pairs (int64, deduplicated, sorted by the later row, the sketch screen applied) from buckets
    small enough to pair; and for bigger buckets, entries (int64 row, int64 dense bucket id, bool has an
    earlier member, bool has a later member) sorted by row, which the walk checks as it goes.
    """

    earlier: np.ndarray
    later: np.ndarray
    bucket_rows: np.ndarray
    bucket_ids: np.ndarray
    has_earlier: np.ndarray
    has_later: np.ndarray

    @property
    def buckets(self) -> int:
        """Number of big-bucket ids (ids run from 0)."""
        return int(self.bucket_ids.max(initial=-1)) + 1


def find_candidates(
    band_key_sets: Iterable[np.ndarray],
    neighbours: tuple[np.ndarray, np.ndarray] | None,
    sketches: np.ndarray,
    sizes: np.ndarray,
    config: NearDuplicateConfig,
    rows: np.ndarray | None = None,
) -> Candidates:
    """Candidates of all rows, or of the sorted row numbers `rows` only (the flat option's survivors).
    `band_key_sets`: one (all rows,) uint32 key array per band (an iterator lets the caller free each
    band's keys as it goes: they are the largest arrays); `neighbours`: (rows, keys) of `neighbour_keys`,
    or None; `sketches`: (rows, sketch_width) uint8; `sizes`: distinct shingles per row."""
    splitter = BucketSplitter(config, sketches, sizes)
    for keys in band_key_sets:
        splitter.split(keys if rows is None else keys[rows], rows, screen=True)
    if neighbours is not None:  # pairs of small sets: never screened
        neighbour_rows, neighbour_keys = neighbours
        if rows is not None:
            inside = contains(rows, neighbour_rows)
            neighbour_rows, neighbour_keys = neighbour_rows[inside], neighbour_keys[inside]
        splitter.split(neighbour_keys, neighbour_rows, screen=False)
    return splitter.candidates()


class BucketSplitter:
    """Turns one key set after another into pairs (small buckets) and big-bucket entries."""

    def __init__(self, config: NearDuplicateConfig, sketches: np.ndarray, sizes: np.ndarray) -> None:
        self.config = config
        self.sketches, self.sizes = sketches, sizes
        self.total = max(len(sizes), 1)
        self.pair_keys: list[np.ndarray] = []  # later * total + earlier, unique per key set
        self.entries: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.numbered = 0  # ids of earlier key sets' buckets, so that ids differ across key sets

    def split(self, keys: np.ndarray, rows: np.ndarray | None, screen: bool, limit: int | None = None) -> None:
        """Add one key set's buckets (`rows` names the keys' rows; default 0, 1, 2, ...). `limit`: the
        largest bucket to pair, when the key set is split over partitions (default: from these keys)."""
        members, bounds = shared_runs(keys, rows)
        run_start, run_size = bounds[:-1], np.diff(bounds)
        if limit is None:
            limit = pairing_limit(run_size, self.config.pairs_per_row * len(keys), self.config)
        if (run_size > limit).any():
            self._add_big_buckets(members, run_start, run_size, run_size > limit)
        paired = run_size <= limit
        for starts, bucket_sizes in _chunks_of_buckets(run_start[paired], run_size[paired]):
            a, b = _pairs_within(members, starts, bucket_sizes)
            if screen:
                a, b = self._screened(a, b)
            self.pair_keys.append(sorted_unique(np.maximum(a, b) * self.total + np.minimum(a, b), in_place=True))
        self.numbered += len(run_size)

    def _add_big_buckets(
        self, members: np.ndarray, run_start: np.ndarray, run_size: np.ndarray, big: np.ndarray
    ) -> None:
        run = np.repeat(np.arange(len(run_size), dtype=np.int64), run_size)
        is_big = big[run]
        lowest, highest = np.minimum.reduceat(members, run_start), np.maximum.reduceat(members, run_start)
        big_members, big_runs = members[is_big], run[is_big]
        self.entries.append(
            (big_members, big_runs + self.numbered, big_members > lowest[big_runs], big_members < highest[big_runs])
        )

    def _screened(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return screened_pairs(a, b, self.sketches, self.sizes, self.config)

    def candidates(self) -> Candidates:
        """All key sets' pairs, deduplicated (a pair sharing several buckets counts once), and entries."""
        pair_keys = self.pair_keys
        unique = sorted_unique(np.concatenate(pair_keys), in_place=True) if pair_keys else np.zeros(0, dtype=np.int64)
        pair_keys.clear()
        earlier, later = unique % self.total, unique // self.total
        if not self.entries:
            empty = np.zeros(0, dtype=np.int64)
            return Candidates(earlier, later, empty, empty, empty.astype(bool), empty.astype(bool))
        rows = np.concatenate([entry[0] for entry in self.entries])
        order = np.argsort(rows, kind="stable")
        ids = dense_ids(np.concatenate([entry[1] for entry in self.entries])[order])
        has_earlier, has_later = (np.concatenate([entry[i] for entry in self.entries])[order] for i in (2, 3))
        return Candidates(earlier, later, rows[order], ids, has_earlier, has_later)


def screened_pairs(
    a: np.ndarray, b: np.ndarray, sketches: np.ndarray, sizes: np.ndarray, config: NearDuplicateConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (a[i], b[i]) the sketch screen keeps (a pair with a small set is always kept);
    `sketches` and `sizes` are indexed by row (arrays, or shuffle.py's lookups)."""
    differing = differing_lanes(sketches[a] ^ sketches[b])
    small = (sizes[a] <= config.small_limit) | (sizes[b] <= config.small_limit)
    keep = small | (differing <= config.max_differing_lanes)
    return a[keep], b[keep]


def pairing_limit(bucket_sizes: np.ndarray, budget: int, config: NearDuplicateConfig) -> int:
    """Largest bucket size such that all buckets up to it make at most `budget` pairs (at least
    `always_paired`, at most `max_paired`)."""
    ordered = np.sort(bucket_sizes)
    made = np.cumsum(ordered * (ordered - 1) // 2)
    over = int(np.searchsorted(made, budget, side="right"))
    limit = int(ordered[over]) - 1 if over < len(ordered) else int(ordered[-1]) if len(ordered) else 0
    return min(max(limit, config.always_paired), max(config.max_paired, config.always_paired))


def _chunks_of_buckets(starts: np.ndarray, sizes: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(starts, sizes) of consecutive buckets making about PAIR_CHUNK pairs each (a bigger bucket
    makes a chunk alone)."""
    pairs = sizes * (sizes - 1) // 2
    chunk = (np.cumsum(pairs) - pairs) // PAIR_CHUNK
    cuts = np.flatnonzero(chunk[1:] != chunk[:-1]) + 1
    return list(zip(np.split(starts, cuts), np.split(sizes, cuts), strict=True))


def _pairs_within(members: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of members of each bucket (members[start : start + size]): (earlier, later) positions
    in bucket order, mapped to the members."""
    bucket_first = np.repeat(starts, sizes)
    index = ragged_ranges(np.zeros(len(sizes), dtype=np.int64), sizes)  # of each member in its bucket
    later = np.repeat(bucket_first + index, index)  # the member at index i pairs with the i before it
    earlier = ragged_ranges(bucket_first, index)
    return members[earlier], members[later]
