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

A bucket becomes candidate pairs (every pair of its rows) while its key set's pairs stay within a
budget per row; a bigger bucket (thousands of copies of one text) stays a bucket, and the walk checks
each of its rows against the bucket's kept rows only, which stay few when most copies are removed.

Near-duplicate-rich data (synthetic variations of few seeds; queries reused across rows) makes many
candidate pairs with Jaccard ~0.4-0.7, and their number grows faster than the rows. So a pair of large
sets is first screened with a b-bit MinHash sketch (the low 4 bits of each signature value, compared
by XOR and popcount): pairs whose estimated Jaccard is more than 4.5 standard deviations below the
threshold are dropped (a pair exactly at the threshold is lost with p ~ 3e-6). The pairs left are
checked on their exact sets all at once, before the walk and in any order (`common_counts`, a sparse
merge in C++, ~0.8 us a pair against ~4 us for Python sets), so the walk only sees near-duplicate pairs.

Memory per row: its distinct shingle hashes (4 bytes each), one bucket id per band (4 bytes each),
num_perm / 2 bytes of sketch (rounded up to 8); and for a row of a big bucket, its sketch as a Python
int while it is kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stages.dedup.minhash import (
    ShingleSets,
    Signer,
    TokenisedBatch,
    band_keys,
    candidate_probability,
    common_counts,
    dense_ids,
    fmix64,
    fold32,
    ragged_ranges,
    shared_runs,
    shingle_sets,
    sorted_unique,
)

EXACT, NGRAM, NEAR = "exact", "ngram", "near"
SMALL_DIFFERENCE_MIN_JACCARD = 0.5  # below this the texts differ in more shingles than they share
MAX_SMALL_SET = 64  # neighbour keys cost one key per shingle: only for small sets
SKETCH_BITS = 4
SKETCH_MARGIN_SD = 4.5
_WALK_BLOCK = 65_536  # rows whose bucket ids are turned into Python lists at a time
# Buckets become candidate pairs (screened and verified in numpy) while a key set's pairs stay within
# _PAIRS_PER_ROW per row; buckets of up to _ALWAYS_PAIRED rows always do (at most 16 pairs per row),
# buckets of more than _MAX_PAIRED rows never do (131k pairs each at most, so a chunk stays bounded).
# Bigger buckets stay buckets: the walk checks their rows against the bucket's kept rows only, which
# stays cheap when most of a huge bucket is removed (thousands of copies of one text).
_ALWAYS_PAIRED = 32
_MAX_PAIRED = 512
_PAIRS_PER_ROW = 8
_PAIR_CHUNK = 262_144  # pairs made and screened per numpy step: bounds the (pairs x sketch) temporaries
_LOW_BIT_OF_EACH_LANE = np.uint64(0x1111111111111111)
_NEIGHBOUR_SALT = np.uint64(0x5851F42D4C957F2D)


def is_near_duplicate(common: int, union: int, threshold: float, max_difference: int) -> bool:
    """The verification rule on exact shingle sets: `common` = |A & B|, `union` = |A | B|."""
    similarity = common / union if union else 1.0
    return similarity >= threshold or (union - common <= max_difference and similarity >= SMALL_DIFFERENCE_MIN_JACCARD)


def near_duplicate_mask(common: np.ndarray, union: np.ndarray, threshold: float, max_difference: int) -> np.ndarray:
    """`is_near_duplicate` for arrays of pairs (union > 0)."""
    similarity = common / union
    small_difference = (union - common <= max_difference) & (similarity >= SMALL_DIFFERENCE_MIN_JACCARD)
    return (similarity >= threshold) | small_difference


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
    members = ragged_ranges(sets.offsets[small], counts)
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


def sketch_width(num_perm: int) -> int:
    """Bytes per sketch: two 4-bit lanes per byte, padded to whole 64-bit words."""
    return -(-num_perm // 16) * 8


def sketch_bytes(signatures: np.ndarray) -> np.ndarray:
    """Low 4 bits of each signature value, two per byte: (rows, sketch_width) uint8."""
    lanes = (signatures & np.uint32(0xF)).astype(np.uint8)
    padding = 2 * sketch_width(lanes.shape[1]) - lanes.shape[1]
    if padding:  # zero lanes never differ
        lanes = np.concatenate([lanes, np.zeros((len(lanes), padding), dtype=np.uint8)], axis=1)
    return lanes[:, 0::2] | (lanes[:, 1::2] << np.uint8(4))


def differing_lanes(differences: np.ndarray) -> np.ndarray:
    """Per row of XORed sketches, the number of 4-bit lanes that are not zero (a popcount per 64 bits).
    Overwrites `differences` (a temporary in every caller) to spare a copy."""
    words = differences.view(np.uint64)
    words |= words >> np.uint64(2)
    words |= words >> np.uint64(1)
    words &= _LOW_BIT_OF_EACH_LANE
    return np.bitwise_count(words).sum(axis=1, dtype=np.int32)


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
    candidate_pairs: int = 0  # pairs sharing a bucket that the sketch did not rule out (later row deduplicated)
    verified: int = 0  # pairs checked on the exact shingle sets
    confirmed: int = 0  # ... that were near-duplicates (whether or not the earlier row was kept)


@dataclass
class _Walk:
    """Inputs of the greedy walk as numpy arrays (the walk turns them into Python lists block by block,
    so memory stays proportional to the rows, not to Python objects per row)."""

    rows: np.ndarray  # rows with a possible match, in order
    partners: np.ndarray  # earlier rows each walk row is a near-duplicate of, walk row after walk row
    similarities: np.ndarray  # Jaccard of each (walk row, partner) pair
    partner_starts: np.ndarray  # where each walk row's partners start (walk rows + 1)
    lookups: np.ndarray  # big-bucket ids with an earlier member, likewise
    lookup_starts: np.ndarray
    joins: np.ndarray  # big-bucket ids with a later member, likewise
    join_starts: np.ndarray
    buckets: int  # number of big-bucket ids
    exact_keys: np.ndarray  # per walk row
    has_twin: np.ndarray  # per walk row: another row has the same exact key
    sketches: np.ndarray  # per walk row: the packed b-bit sketch
    # Per row (all rows), as memoryviews of the numpy arrays: no copy, and indexing or iterating a slice
    # yields Python ints, ~10x cheaper than numpy scalars in the walk.
    groups: memoryview
    sizes: memoryview  # distinct shingles per row
    offsets: memoryview  # where each row's shingles start in `values`
    values: memoryview  # shingle hashes, row after row


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
        self._sketch_width = sketch_width(num_perm)
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
        self._verified = self._confirmed = 0  # pairs checked in bulk before the walk

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
        result.candidate_pairs = self._verified  # every screened pair is verified in bulk
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
        offsets = np.zeros(total + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.concatenate(self._values) if total else np.zeros(0, dtype=np.uint32)
        self._lengths, self._sketches, self._values = [], [], []
        groups = np.concatenate(self._group_of) if total else np.zeros(0, dtype=np.int8)
        self._group_of = []
        (earlier, later), (rows, bucket, has_earlier, has_later) = self._candidates(sketches, lengths)
        decided = groups[later] == len(self.groups) - 1  # reference rows are kept whatever they match
        earlier, later = earlier[decided], later[decided]
        earlier, later, similarities = self._verify(ShingleSets(values, offsets), earlier, later)
        walk = sorted_unique(np.concatenate([earlier, later, rows]), in_place=True)
        exact_keys = np.concatenate(self._exact) if total else np.zeros(0, dtype=np.uint64)
        self._exact = []
        ordered = np.sort(exact_keys)
        twins = sorted_unique(ordered[1:][ordered[1:] == ordered[:-1]])
        return _Walk(
            rows=walk,
            partners=earlier,
            similarities=similarities,
            partner_starts=_starts(later, walk),
            lookups=bucket[has_earlier],
            lookup_starts=_starts(rows[has_earlier], walk),
            joins=bucket[has_later],
            join_starts=_starts(rows[has_later], walk),
            buckets=int(bucket.max(initial=-1)) + 1,
            exact_keys=exact_keys[walk],
            has_twin=_contains(twins, exact_keys[walk]),
            sketches=sketches[walk],
            groups=memoryview(groups),
            sizes=memoryview(lengths),
            offsets=memoryview(offsets),
            values=memoryview(values),
        )

    def _verify(
        self, sets: ShingleSets, earlier: np.ndarray, later: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The candidate pairs that are near-duplicates on their exact sets, with their Jaccard."""
        common = common_counts(sets, earlier, later)
        sizes = np.diff(sets.offsets)
        union = sizes[earlier] + sizes[later] - common
        near = near_duplicate_mask(common, union, self.threshold, self.max_difference)
        self._verified, self._confirmed = len(earlier), int(near.sum())
        return earlier[near], later[near], common[near] / union[near]

    def _candidates(
        self, sketches: np.ndarray, sizes: np.ndarray
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Candidate pairs (earlier row, later row), deduplicated and sorted by the later row, from buckets
        small enough to pair (see _PAIRS_PER_ROW), with the pairs the sketch rejects dropped; for bigger buckets,
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
        unique = sorted_unique(np.concatenate(pair_keys), in_place=True) if pair_keys else np.zeros(0, dtype=np.int64)
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
        set_sizes: np.ndarray,
        numbered: int,
        pair_keys: list[np.ndarray],
        entries: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    ) -> int:
        """Add one key set's buckets to `pair_keys` (small buckets, screened) or `entries` (big
        buckets); returns `numbered` advanced past this key set's bucket ids."""
        members, bounds = shared_runs(keys, rows)
        run_start, run_size = bounds[:-1], np.diff(bounds)
        limit = _pairing_limit(run_size, _PAIRS_PER_ROW * len(keys))
        if (run_size > limit).any():
            run = np.repeat(np.arange(len(run_size), dtype=np.int64), run_size)
            big = (run_size > limit)[run]
            lowest, highest = np.minimum.reduceat(members, run_start), np.maximum.reduceat(members, run_start)
            big_members, big_runs = members[big], run[big]
            entries.append(
                (big_members, big_runs + numbered, big_members > lowest[big_runs], big_members < highest[big_runs])
            )
        paired = run_size <= limit
        for starts, bucket_sizes in _chunks_of_buckets(run_start[paired], run_size[paired]):
            a, b = _pairs_within(members, starts, bucket_sizes)
            if screen:
                differing = differing_lanes(sketches[a] ^ sketches[b])
                small = (set_sizes[a] <= self.small_limit) | (set_sizes[b] <= self.small_limit)
                keep = small | (differing <= self.max_differing_lanes)
                a, b = a[keep], b[keep]
            pair_keys.append(sorted_unique(np.maximum(a, b) * max(self._count, 1) + np.minimum(a, b), in_place=True))
        return numbered + len(run_size)


def _pairing_limit(bucket_sizes: np.ndarray, budget: int) -> int:
    """Largest bucket size such that all buckets up to it make at most `budget` pairs (at least
    _ALWAYS_PAIRED, at most _MAX_PAIRED)."""
    ordered = np.sort(bucket_sizes)
    made = np.cumsum(ordered * (ordered - 1) // 2)
    over = int(np.searchsorted(made, budget, side="right"))
    limit = int(ordered[over]) - 1 if over < len(ordered) else int(ordered[-1]) if len(ordered) else 0
    return min(max(limit, _ALWAYS_PAIRED), max(_MAX_PAIRED, _ALWAYS_PAIRED))


def _chunks_of_buckets(starts: np.ndarray, sizes: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(starts, sizes) of consecutive buckets making about _PAIR_CHUNK pairs each (a bigger bucket
    makes a chunk alone)."""
    pairs = sizes * (sizes - 1) // 2
    chunk = (np.cumsum(pairs) - pairs) // _PAIR_CHUNK
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
    """Rows in order: match each against its kept near-duplicate partners (verified already) and the kept
    rows of the big buckets it looks up (verified here); if it is kept, mark it and join its big buckets.
    Returns (row, best) for rows matched by MinHash or exact key, best = (group, 0 exact / 2 near,
    -similarity, matched row), the smallest such tuple. This loop is the only per-row Python code of the
    dedup, so it is kept tight."""
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
        similarities_all, _ = _block_lists(walk.similarities, walk.partner_starts, block, len(rows))
        lookups_all, lookup_starts = _block_lists(walk.lookups, walk.lookup_starts, block, len(rows))
        joins_all, join_starts = _block_lists(walk.joins, walk.join_starts, block, len(rows))
        exact_keys, has_twin = walk.exact_keys[span].tolist(), walk.has_twin[span].tolist()
        packed, width = walk.sketches[span].tobytes(), walk.sketches.shape[1]
        for position, row in enumerate(rows):
            best: tuple[int, int, float, int] | None = None
            start, end = partner_starts[position], partner_starts[position + 1]
            lookups = lookups_all[lookup_starts[position] : lookup_starts[position + 1]]
            if (start < end or lookups) and groups[row] == dedup_group:
                same = exact_first.get(exact_keys[position]) if has_twin[position] else None
                if same is not None:
                    best = (groups[same], 0, -1.0, same)
                partners = partners_all[start:end]
                for other, similarity in zip(partners, similarities_all[start:end], strict=True):
                    if kept[other] and other != same:
                        candidate = (groups[other], 2, -similarity, other)
                        if best is None or candidate < best:
                            best = candidate
                found = []  # big-bucket rows still to verify
                if lookups:
                    from_buckets: set[int] = set()
                    for bucket in lookups:
                        bucket_rows = members[bucket]
                        if bucket_rows:
                            from_buckets.update(bucket_rows)
                    from_buckets.difference_update(partners)
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
    result.verified, result.confirmed = finder._verified + verified, finder._confirmed + confirmed
    return matched


def _block_lists(values: np.ndarray, starts: np.ndarray, block: int, count: int) -> tuple[list[int], list[int]]:
    """The values of walk rows block .. block + count as one list, and their starts relative to it."""
    local = starts[block : block + count + 1]
    return values[local[0] : local[-1]].tolist(), (local - local[0]).tolist()
