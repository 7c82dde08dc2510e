"""The near-duplicate engine's settings, in one frozen value that every phase takes explicitly.

The first six fields and `lineage_walk` are the `dedup` params (stages/dedup/params.py holds their defaults
and reasons); the pairing fields and `reference_first` are engine tuning: they change speed and memory,
never a decision (tests/test_dedup.py checks that extreme values decide exactly like the brute-force greedy).
The derived values (`small_limit`, `max_differing_lanes`, `sketch_width`) are computed once here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from stages.dedup.params import DedupParams
from stages.dedup.signatures import sketch_width

MAX_SMALL_SET = 64  # neighbour keys cost one key per shingle: only for small sets
SKETCH_BITS = 4  # bits kept of each signature value in the b-bit sketch
SKETCH_MARGIN_SD = 4.5  # a pair exactly at the threshold fails the sketch screen with p ~ 3e-6


@dataclass(frozen=True)
class NearDuplicateConfig:
    """Settings of signatures, candidates, verification and the walk.

    Raises ValueError if bands x rows_per_band exceeds num_perm (the bands would read past the signature).
    """

    ngram: int  # words per shingle
    num_perm: int  # MinHash permutations: signatures are (rows, num_perm) uint32
    bands: int  # LSH bands of `rows_per_band` signature values each
    rows_per_band: int
    threshold: float  # exact Jaccard on shingle sets at or above which two rows are near-duplicates
    max_difference: int  # ...or at most this many differing shingles (with Jaccard >= 0.5)
    # Buckets become candidate pairs while a key set's pairs stay within `pairs_per_row` per row; buckets
    # of up to `always_paired` rows always do (at most 16 pairs per row), buckets of more than
    # `max_paired` rows never do (131k pairs each at most, so a chunk stays bounded). Bigger buckets are
    # walked: each row is checked against the bucket's kept rows only, which stays cheap when most of a
    # huge bucket (thousands of copies of one text) is removed. Figures: BENCHMARKS.md, "Throughput".
    always_paired: int = 32
    max_paired: int = 512
    pairs_per_row: int = 8
    # Reference first (verification.py): pairs with a row that can never be kept are dropped unchecked.
    # Off only for the baseline of bench/bench_ray.py --variations and for tests comparing both.
    reference_first: bool = True
    # The flat option (flat.py): references, then each lineage alone, then the global search on survivors.
    lineage_walk: bool = False

    def __post_init__(self) -> None:
        """Reject bandings that do not fit in the signature."""
        if self.bands * self.rows_per_band > self.num_perm:
            used = self.bands * self.rows_per_band
            raise ValueError(f"bands x rows_per_band = {used} exceeds num_perm = {self.num_perm}")

    @classmethod
    def from_params(cls, params: DedupParams) -> NearDuplicateConfig:
        """The engine settings of the `dedup` params section (pairing tuning at its defaults)."""
        return cls(
            ngram=params.ngram,
            num_perm=params.num_perm,
            bands=params.bands,
            rows_per_band=params.rows_per_band,
            threshold=params.threshold,
            max_difference=params.max_difference,
            lineage_walk=params.lineage_walk,
        )

    @cached_property
    def small_limit(self) -> int:
        """Largest shingle-set size that gets exact neighbour keys (see `small_set_limit`)."""
        return small_set_limit(self.threshold, self.max_difference)

    @cached_property
    def max_differing_lanes(self) -> int:
        """Most differing sketch lanes a pair may show and still be verified (see `sketch_screen`)."""
        return sketch_screen(self.threshold, self.num_perm)

    @cached_property
    def sketch_width(self) -> int:
        """Bytes per row's b-bit sketch (`signatures.sketch_width`)."""
        return sketch_width(self.num_perm)


def small_set_limit(threshold: float, max_difference: int) -> int:
    """Largest set size at which the max_difference clause can accept a pair the threshold rejects:
    with |A xor B| <= d and |A | B| >= d / (1 - t), Jaccard is already >= t. 0 when max_difference is 0;
    at most MAX_SMALL_SET."""
    if max_difference <= 0:
        return 0
    if threshold >= 1:
        return MAX_SMALL_SET
    return min(MAX_SMALL_SET, math.ceil(max_difference / (1 - threshold) - 1e-9) - 1)


def sketch_screen(threshold: float, num_perm: int) -> int:
    """Most differing 4-bit lanes a pair at `threshold` shows, plus SKETCH_MARGIN_SD standard deviations.
    Equal minima give equal lanes; different ones agree by chance with p = 1/16."""
    chance = 1 / 2**SKETCH_BITS
    agree = threshold + (1 - threshold) * chance
    spread = math.sqrt(agree * (1 - agree) / num_perm)
    return math.floor(num_perm * (1 - agree + SKETCH_MARGIN_SD * spread))
