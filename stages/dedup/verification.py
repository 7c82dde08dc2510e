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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from stages.dedup.arrays import ragged_ranges
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


def verify_pairs(
    sets: ShingleSets, earlier: np.ndarray, later: np.ndarray, config: NearDuplicateConfig
) -> VerifiedPairs:
    """Check every pair (earlier[i], later[i]) of rows of `sets` on its exact shingle sets."""
    common = common_counts(sets, earlier, later)
    sizes = np.diff(sets.offsets)
    union = sizes[earlier] + sizes[later] - common
    near = near_duplicate_mask(common, union, config.threshold, config.max_difference)
    return VerifiedPairs(earlier[near], later[near], common[near] / union[near], len(earlier), int(near.sum()))
