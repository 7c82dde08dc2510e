"""Phase 3, verification: exact Jaccard on the shingle sets, for all candidate pairs at once.

A candidate pair of shingle sets A, B is a near-duplicate if
    Jaccard(A, B) >= threshold,  or  |A xor B| <= max_difference and Jaccard(A, B) >= 0.5.
The second clause is for short texts: one swapped word in a 6-word turn is Jaccard 0.71, below any
threshold that keeps distinct turns wrapped in one template frame apart (those reach 0.76 on the seeds),
but it is a difference of 2 words, while such distinct turns differ by many more (BENCHMARKS.md,
"Near-duplicate accuracy").

Pairs are checked before the walk and in any order: each chunk of pairs is gathered into two sparse
0/1 matrices and intersected by scipy's merge of sorted rows (C++), ~0.8 us a pair against ~4 us for
Python sets (BENCHMARKS.md, "Throughput and memory"), so the walk only sees near-duplicate pairs.

Reference first (`verify_reference_first`): the pairs of a deduplicated row with a reference row (eval
rows, seeds) are checked first. A row with a confirmed reference pair is removed by the walk whatever
else it matches (its best match is in a group that ranks before every deduplicated row) and is never
kept, so it can match no later row; likewise a row removed by n-gram decontamination. Every pair of two
deduplicated rows that contains such a row is dropped unchecked: with many variations per seed, the
near-copies of their seed are in over half of the pairs (BENCHMARKS.md, "Variations per seed"). An
exact copy of a reference is one of these rows (its pair with the reference is at Jaccard 1), unless it
shares only walked big buckets, and then it has no pair at all. Why no decision changes: README,
"Lineage-first comparison"; tests/test_dedup_lineage.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from stages.dedup.arrays import contains, ragged_ranges, sorted_unique
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.signatures import ShingleSets

SMALL_DIFFERENCE_MIN_JACCARD = 0.5  # below this the texts differ in more shingles than they share
COMMON_CHUNK = 65_536  # pairs intersected per scipy call: bounds the gathered copies (~21 bytes per shingle)


def is_near_duplicate(common: int, union: int, threshold: float, max_difference: int) -> bool:
    """The verification rule on exact shingle sets: `common` = |A & B|, `union` = |A | B| (a pair of
    empty sets, union 0, is a near-duplicate)."""
    similarity = common / union if union else 1.0
    return similarity >= threshold or (union - common <= max_difference and similarity >= SMALL_DIFFERENCE_MIN_JACCARD)


def near_duplicate_mask(common: np.ndarray, union: np.ndarray, threshold: float, max_difference: int) -> np.ndarray:
    """`is_near_duplicate` for arrays of pairs (union > 0): bool per pair."""
    similarity = common / union
    small_difference = (union - common <= max_difference) & (similarity >= SMALL_DIFFERENCE_MIN_JACCARD)
    return (similarity >= threshold) | small_difference


def common_counts(sets: ShingleSets, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """|A & B| for each pair of rows (first[i], second[i]): int64 per pair. Both sides' sorted shingles
    are gathered into sparse matrices, COMMON_CHUNK pairs at a time, and intersected by scipy."""
    counts = np.empty(len(first), dtype=np.int64)
    for low in range(0, len(first), COMMON_CHUNK):
        part = slice(low, low + COMMON_CHUNK)
        product = _rows_matrix(sets, first[part]).multiply(_rows_matrix(sets, second[part]))
        counts[part] = np.diff(product.indptr)
    return counts


def _rows_matrix(sets: ShingleSets, rows: np.ndarray) -> sparse.csr_array:
    """The given rows as a 0/1 matrix with one column per 32-bit shingle hash."""
    starts = sets.offsets[rows]
    sizes = sets.offsets[rows + 1] - starts
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    members = ragged_ranges(starts, sizes)
    # Rows are sorted and free of repeats (canonical), which keeps scipy on its merge path; its general
    # path would allocate per column, and there are 2^32 columns.
    columns = sets.values[members].astype(np.int64)
    return sparse.csr_array((np.ones(len(members), dtype=np.int8), columns, indptr), shape=(len(rows), 1 << 32))


@dataclass
class VerifiedPairs:
    """The candidate pairs that are near-duplicates (int64 rows, float64 Jaccard), in candidate order,
    and how many pairs were checked and confirmed."""

    earlier: np.ndarray
    later: np.ndarray
    similarities: np.ndarray
    verified: int
    confirmed: int
    pruned: int = 0  # candidate pairs dropped unchecked: one of their rows is never kept (reference first)


def verify_pairs(
    sets: ShingleSets, earlier: np.ndarray, later: np.ndarray, config: NearDuplicateConfig
) -> VerifiedPairs:
    """Check every pair (earlier[i], later[i]) of rows of `sets` on its exact shingle sets."""
    near, similarities = _checked(sets, earlier, later, config)
    return VerifiedPairs(earlier[near], later[near], similarities[near], len(earlier), int(near.sum()))


def _checked(
    sets: ShingleSets, earlier: np.ndarray, later: np.ndarray, config: NearDuplicateConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: near-duplicate (bool) and Jaccard (float64)."""
    common = common_counts(sets, earlier, later)
    sizes = np.diff(sets.offsets)
    union = sizes[earlier] + sizes[later] - common
    return near_duplicate_mask(common, union, config.threshold, config.max_difference), common / union


def never_kept_rows(reference_matched: np.ndarray, removed_elsewhere: np.ndarray) -> np.ndarray:
    """The rows the walk can never keep, known before it (sorted int64): the later rows of the confirmed
    pairs with a reference row, and the rows removed elsewhere (n-gram decontamination)."""
    return sorted_unique(np.concatenate([reference_matched, removed_elsewhere]).astype(np.int64))


def unpruned(earlier: np.ndarray, later: np.ndarray, never_kept: np.ndarray) -> np.ndarray:
    """Per pair of two deduplicated rows: True if neither row is in the sorted `never_kept` (bool)."""
    return ~(contains(never_kept, earlier) | contains(never_kept, later))


def verify_reference_first(
    sets: ShingleSets,
    earlier: np.ndarray,
    later: np.ndarray,
    reference: np.ndarray,
    removed_elsewhere: np.ndarray,
    config: NearDuplicateConfig,
) -> VerifiedPairs:
    """`verify_pairs` of pairs whose later row is deduplicated, reference first (module docstring):
    the pairs with reference[i] (bool: earlier row is a reference) are checked, then the others that
    contain no row of `never_kept_rows`; the rest are counted as pruned. Confirmed pairs stay in
    candidate order. With `config.reference_first` off every pair is checked (the baseline)."""
    if not config.reference_first:
        return verify_pairs(sets, earlier, later, config)
    first, rest = np.flatnonzero(reference), np.flatnonzero(~reference)
    near = np.zeros(len(earlier), dtype=bool)
    similarities = np.zeros(len(earlier), dtype=np.float64)
    near[first], similarities[first] = _checked(sets, earlier[first], later[first], config)
    never_kept = never_kept_rows(later[first][near[first]], removed_elsewhere)
    rest = rest[unpruned(earlier[rest], later[rest], never_kept)]
    near[rest], similarities[rest] = _checked(sets, earlier[rest], later[rest], config)
    checked = len(first) + len(rest)
    return VerifiedPairs(
        earlier[near], later[near], similarities[near], checked, int(near.sum()), pruned=len(earlier) - checked
    )
