"""MinHash signatures and an LSH index for near-duplicate detection.

Signatures are bit-identical to datasketch's `MinHash(num_perm, seed, hashfunc=shingle_hash,
scheme="affine32")` (tests check this), computed with numpy in one pass per row instead of one
`update()` per shingle. The banding index uses explicit (bands, rows_per_band) rather than
datasketch's optimiser, and every candidate pair is verified by exact Jaccard on the shingle sets,
so clusters cannot chain through unverified edges.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np
import xxhash
from datasketch import MinHash

from stages.common.text import words

PERMUTATION_SEED = 1
EMPTY_SHINGLE = b"\x00"  # stands for "no words" so that empty texts still get a signature


def shingle_hash(shingle: bytes) -> int:
    """32-bit shingle hash (xxh32): the `hashfunc` to give datasketch for compatible signatures."""
    return xxhash.xxh32_intdigest(shingle)


def shingles(text: str, ngram: int) -> list[bytes]:
    """Word n-grams of the normalised text (the whole text if it is shorter than n words)."""
    tokens = words(text)
    if not tokens:
        return [EMPTY_SHINGLE]
    if len(tokens) <= ngram:
        return [" ".join(tokens).encode("utf-8")]
    return [" ".join(tokens[i : i + ngram]).encode("utf-8") for i in range(len(tokens) - ngram + 1)]


def shingle_set(text: str, ngram: int) -> frozenset[int]:
    return frozenset(shingle_hash(s) for s in shingles(text, ngram))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3 finalizer, as datasketch's affine32 scheme applies before permuting."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


class Signer:
    """Computes datasketch-compatible MinHash signatures for shingle-hash sets."""

    def __init__(self, num_perm: int, seed: int = PERMUTATION_SEED) -> None:
        template = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash, scheme="affine32")
        a, b = template.permutations
        self.num_perm = num_perm
        self._a = a.astype(np.uint32).reshape(-1, 1)
        self._b = b.astype(np.uint32).reshape(-1, 1)

    def signature(self, hashes: frozenset[int] | Sequence[int]) -> np.ndarray:
        values = _fmix32(np.fromiter(hashes, dtype=np.uint32, count=len(hashes)))
        with np.errstate(over="ignore"):
            return (self._a * values + self._b).min(axis=1)


class BandIndex:
    """LSH by banding: rows whose signatures agree on all values of any one band are candidates."""

    def __init__(self, bands: int, rows_per_band: int) -> None:
        self.bands = bands
        self.rows_per_band = rows_per_band
        self._tables: list[dict[bytes, list[Hashable]]] = [defaultdict(list) for _ in range(bands)]

    def _band_keys(self, signature: np.ndarray) -> list[bytes]:
        r = self.rows_per_band
        return [signature[i * r : (i + 1) * r].tobytes() for i in range(self.bands)]

    def insert(self, key: Hashable, signature: np.ndarray) -> None:
        for table, band in zip(self._tables, self._band_keys(signature), strict=True):
            table[band].append(key)

    def candidates(self, signature: np.ndarray) -> list[Hashable]:
        """Keys sharing a band with `signature`, in insertion order, without repeats."""
        found: dict[Hashable, None] = {}
        for table, band in zip(self._tables, self._band_keys(signature), strict=True):
            for key in table.get(band, ()):
                found[key] = None
        return list(found)
