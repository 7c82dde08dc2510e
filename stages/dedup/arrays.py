"""Numpy helpers the dedup phases share: 64-bit mixing, ragged ranges, fast unique and membership.

They exist because numpy 2.x's general routines are slow on the flat integer arrays dedup works on
(`np.unique` is 10-50x slower than sort + mask here, `np.isin` takes slow paths): see
BENCHMARKS.md, "Throughput and memory".
"""

from __future__ import annotations

import numpy as np

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF


def splitmix64(count: int, salt: int) -> np.ndarray:
    """`count` well-mixed odd 64-bit constants (splitmix64), uint64: fixed forever, they define the hashes."""
    values, state = [], salt
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        values.append((z ^ (z >> 31)) | 1)
    return np.array(values, dtype=np.uint64)


def fmix64_int(value: int) -> int:
    """MurmurHash3's 64-bit finaliser on one Python int (0 <= value < 2^64): the reference of `fmix64`."""
    value ^= value >> 33
    value = (value * 0xFF51AFD7ED558CCD) & MASK64
    value ^= value >> 33
    value = (value * 0xC4CEB9FE1A85EC53) & MASK64
    return value ^ (value >> 33)


def _finalise(values: np.ndarray, shifts: tuple[int, int, int], multipliers: tuple[int, int]) -> np.ndarray:
    """MurmurHash3's finaliser (xor-shift, multiply, xor-shift, multiply, xor-shift) in the array's dtype."""
    kind = values.dtype.type
    values = values ^ (values >> kind(shifts[0]))
    values = values * kind(multipliers[0])
    values = values ^ (values >> kind(shifts[1]))
    values = values * kind(multipliers[1])
    return values ^ (values >> kind(shifts[2]))


def fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser on a uint64 array (any shape); returns a new uint64 array."""
    return _finalise(values, (33, 33, 33), (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53))


def fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser on a uint32 array, as datasketch's affine32 scheme applies it
    before permuting; returns a new uint32 array."""
    return _finalise(values, (16, 13, 16), (0x85EBCA6B, 0xC2B2AE35))


def fold32(values: np.ndarray) -> np.ndarray:
    """uint64 values folded to uint32 (high half XOR low half), same shape."""
    return ((values ^ (values >> np.uint64(32))) & np.uint64(MASK32)).astype(np.uint32)


def ragged_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The ranges starts[i] .. starts[i] + counts[i] - 1, one after another: the indices of many
    slices of a flat array at once (int64, sum(counts) values)."""
    counts = np.asarray(counts, dtype=np.int64)
    firsts = np.cumsum(counts) - counts
    return np.repeat(np.asarray(starts, dtype=np.int64) - firsts, counts) + np.arange(int(counts.sum()), dtype=np.int64)


def sorted_unique(values: np.ndarray, in_place: bool = False) -> np.ndarray:
    """np.unique for flat integer arrays, by sort + mask. `in_place` sorts `values` itself (for
    temporaries: saves a copy of the largest arrays)."""
    if in_place:
        values.sort()
    ordered = values if in_place else np.sort(values)
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(ordered) else ordered


def dense_ids(values: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... numbering the distinct values (like np.unique's inverse, but fast): int64, same length."""
    order = np.argsort(values)
    new = np.ones(len(values), dtype=bool)
    new[1:] = values[order][1:] != values[order][:-1]
    ids = np.empty(len(values), dtype=np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids


def contains(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Membership of each query in a sorted array (np.isin without its slow paths): bool per query."""
    if not len(sorted_values):
        return np.zeros(len(queries), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, queries), len(sorted_values) - 1)
    return sorted_values[at] == queries


def starts_of(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For values sorted by `keys` (sorted), where the values of each of the sorted `wanted` keys
    start: int64, len(wanted) + 1 (the last entry is len(keys))."""
    return np.append(np.searchsorted(keys, wanted), len(keys))
