"""Greedy near-duplicate removal over many rows: the four phases, driven by `NearDuplicateFinder`.

    add(batch)   phase 1, signatures (signatures.py): shingle sets, MinHash signatures, b-bit sketches;
                 their band keys and neighbour keys are kept, the signatures are not
    resolve()    phase 2, candidates (candidates.py): buckets of equal keys, as pairs or big buckets
                 phase 3, verification (verification.py): exact Jaccard of all candidate pairs at once,
                 reference pairs first (a pair with a row that can never be kept is dropped)
                 phase 4, the walk (walk.py): greedy decisions in row order, so removals never chain

Texts are added in order: the reference groups first (e.g. eval, then seeds; always kept), then the
rows to deduplicate. A match is the same normalised text (exact key), or a verified near-duplicate.

Memory per row until `resolve()`: its distinct shingle hashes (4 bytes each), one band key per band
(4 bytes each), its sketch (num_perm / 2 bytes, rounded up to 8), its exact key and group; figures
at 100k and 1M rows in BENCHMARKS.md ("Scaling").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from stages.dedup.arrays import fold32
from stages.dedup.candidates import Candidates, band_keys, candidate_probability, find_candidates, neighbour_keys
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.signatures import ShingleSets, Signer, TokenisedBatch, shingle_sets, sketch_bytes
from stages.dedup.verification import VerifiedPairs, verify_reference_first
from stages.dedup.walk import EXACT_RANK, WalkInput, greedy_walk

EXACT, NGRAM, NEAR = "exact", "ngram", "near"


@dataclass(frozen=True)
class Match:
    """Why a row is removed: `kind` (exact/ngram/near) of which `group`, matching row `index`, with
    word-set `similarity` in [0, 1] (1.0 for exact copies); `detail` says where it was found when that
    is not the global walk (the lineage walk: lineage.py)."""

    kind: str
    group: str
    index: int
    similarity: float
    detail: str | None = None

    @property
    def reason(self) -> str:
        """The removal reason written on the row, e.g. "near_seed" or "near_synthetic: within its lineage"."""
        code = f"{self.kind}_{self.group}"
        return code if self.detail is None else f"{code}: {self.detail}"


@dataclass
class Resolution:
    """Per added row: the match that removes it (None: kept; reference rows are always kept)."""

    matches: list[Match | None]
    candidate_pairs: int = 0  # pairs sharing a bucket that the sketch did not rule out (later row deduplicated)
    verified: int = 0  # pairs checked on the exact shingle sets (the others: a row of them is never kept)
    confirmed: int = 0  # ... that were near-duplicates (whether or not the earlier row was kept)
    lineage_walk: dict[str, int] | None = None  # the lineage walk's figures, when it ran (flat.py)


@dataclass
class SignedBatch:
    """Phase 1 for one batch: shingle sets, one uint32 key array per band, the b-bit sketches, and
    (row in batch, key) neighbour keys of small sets (empty when the max_difference clause is off)."""

    sets: ShingleSets
    band_keys: list[np.ndarray]
    sketches: np.ndarray
    neighbour_rows: np.ndarray
    neighbour_keys: np.ndarray


def sign_batch(batch: TokenisedBatch, config: NearDuplicateConfig, signer: Signer) -> SignedBatch:
    """Shingle sets, MinHash signatures, band keys, sketches and neighbour keys of a batch of rows."""
    sets = shingle_sets(batch, config.ngram)
    signatures = signer.signatures(sets)
    # band keys stored as 32 bits to halve the largest arrays: a collision only adds a candidate pair,
    # which the sketch and the exact check then reject
    keys = [fold32(band) for band in band_keys(signatures, config.bands, config.rows_per_band)]
    rows, neighbours = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    if config.small_limit:
        rows, neighbours = neighbour_keys(sets, config.small_limit)
    return SignedBatch(sets, keys, sketch_bytes(signatures), rows, neighbours)


@dataclass
class Phases:
    """What the walk needs once candidates are verified: the near-duplicate pairs (sorted by later row),
    the big-bucket entries, and per row (all rows, in the order added): exact keys, sketches, group
    indices and shingle sets. The local finder and the Ray driver (distributed.py) both build it."""

    pairs: VerifiedPairs
    candidates: Candidates
    exact_keys: np.ndarray
    sketches: np.ndarray
    groups: np.ndarray
    sets: ShingleSets


def decide(
    groups: Sequence[str], config: NearDuplicateConfig, phases: Phases, extra: Mapping[int, Match] | None
) -> Resolution:
    """Phase 4 and the report: the greedy walk over `phases`, with `extra` matches (see
    `NearDuplicateFinder.resolve`), as one Resolution with the pair counts."""
    extra = extra or {}
    pairs = phases.pairs
    walk = WalkInput.build(pairs, phases.candidates, phases.exact_keys, phases.sketches, phases.groups, phases.sets)
    extra_rank = {row: groups.index(match.group) for row, match in extra.items()}
    outcome = greedy_walk(walk, config, len(groups) - 1, extra_rank)
    result = Resolution([None] * len(phases.groups))
    for row, match in extra.items():
        result.matches[row] = match
    for row, (group, rank, negative_similarity, other) in outcome.matched:
        kind = EXACT if rank == EXACT_RANK else NEAR
        result.matches[row] = Match(kind, groups[group], other, round(-negative_similarity, 4))
    # every screened pair is verified, or dropped unchecked because a row of it is never kept
    result.candidate_pairs = pairs.verified + pairs.pruned + outcome.bucket_pairs
    result.verified = pairs.verified + outcome.verified
    result.confirmed = pairs.confirmed + outcome.confirmed
    return result


@dataclass
class _Collected:
    """What `add` keeps of each batch, until `resolve` concatenates (and frees) it."""

    groups: list[np.ndarray] = field(default_factory=list)  # int8 group index per row
    exact_keys: list[np.ndarray] = field(default_factory=list)  # uint64 per row
    values: list[np.ndarray] = field(default_factory=list)  # uint32 shingle hashes, row after row
    sizes: list[np.ndarray] = field(default_factory=list)  # int64 distinct shingles per row
    sketches: list[np.ndarray] = field(default_factory=list)  # (rows, sketch_width) uint8
    neighbour_rows: list[np.ndarray] = field(default_factory=list)  # int64
    neighbour_keys: list[np.ndarray] = field(default_factory=list)  # uint64
    band_keys: list[list[np.ndarray]] = field(default_factory=list)  # per band: uint32 per row
    lineages: list[np.ndarray] = field(default_factory=list)  # int64 per row (lineage walk only)


def _take(parts: list[np.ndarray], empty: np.ndarray) -> np.ndarray:
    """The parts as one array (`empty` if there are none); the list is emptied to free them."""
    array = np.concatenate(parts) if parts else empty
    parts.clear()
    return array


class NearDuplicateFinder:
    """Collects rows batch by batch, then decides greedily in row order (see the module docstring).

    `groups`: names in order of preference; the last is the group being deduplicated, the others are
    references (always kept) and must all be added before it.
    """

    def __init__(self, groups: Sequence[str], config: NearDuplicateConfig) -> None:
        self.groups = list(groups)
        self.config = config
        self.signer = Signer(config.num_perm)
        self._collected = _Collected(band_keys=[[] for _ in range(config.bands)])
        self._count = 0
        self._last_group = 0

    def __len__(self) -> int:
        return self._count

    def candidate_probability(self, similarity: float) -> float:
        """Chance that a pair with this Jaccard becomes a band candidate (see candidates.py)."""
        return candidate_probability(similarity, self.config.bands, self.config.rows_per_band)

    def add(self, batch: TokenisedBatch, group: int, lineages: np.ndarray | None = None) -> range:
        """Add a batch of rows of `group` (index into `groups`); returns their row indices. `lineages`:
        each row's lineage number (lineage.py; only read with `config.lineage_walk`, default none).
        ValueError if a reference group comes after a later group."""
        if group < self._last_group:
            raise ValueError("add reference groups first, in order, then the rows to deduplicate")
        self._last_group = group
        config, collected, first = self.config, self._collected, self._count
        signed = sign_batch(batch, config, self.signer)
        for band, keys in enumerate(signed.band_keys):
            collected.band_keys[band].append(keys)
        collected.sketches.append(signed.sketches)
        if config.small_limit:
            collected.neighbour_rows.append(signed.neighbour_rows + first)
            collected.neighbour_keys.append(signed.neighbour_keys)
        collected.values.append(signed.sets.values)
        collected.sizes.append(np.diff(signed.sets.offsets))
        collected.exact_keys.append(batch.exact_keys)
        collected.groups.append(np.full(len(batch), group, dtype=np.int8))
        if config.lineage_walk:
            collected.lineages.append(np.full(len(batch), -1, dtype=np.int64) if lineages is None else lineages)
        self._count += len(batch)
        return range(first, self._count)

    def resolve(self, extra: Mapping[int, Match] | None = None) -> Resolution:
        """Decide every row. `extra` gives matches found elsewhere (n-gram decontamination) for rows of
        the deduplicated group: such a row is removed, reported as `extra` unless it is an exact copy
        of a row of an earlier-or-equal group (exact beats n-gram beats MinHash, group by group).
        Call once: the collected arrays are freed as the phases consume them."""
        config, collected, dedup_group = self.config, self._collected, len(self.groups) - 1
        sizes = _take(collected.sizes, np.zeros(0, dtype=np.int64))
        sketches = _take(collected.sketches, np.zeros((0, config.sketch_width), dtype=np.uint8))
        offsets = np.zeros(self._count + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        sets = ShingleSets(_take(collected.values, np.zeros(0, dtype=np.uint32)), offsets)
        groups = _take(collected.groups, np.zeros(0, dtype=np.int8))
        if config.lineage_walk:
            return self._resolve_flat(sets, sketches, groups, extra)
        candidates = find_candidates(self._band_key_sets(), self._neighbours(), sketches, sizes, config)
        decided = groups[candidates.later] == dedup_group  # reference rows are kept whatever they match
        earlier, later = candidates.earlier[decided], candidates.later[decided]
        removed = np.fromiter(extra or {}, dtype=np.int64)
        pairs = verify_reference_first(sets, earlier, later, groups[earlier] != dedup_group, removed, config)
        exact_keys = _take(collected.exact_keys, np.zeros(0, dtype=np.uint64))
        return decide(self.groups, config, Phases(pairs, candidates, exact_keys, sketches, groups, sets), extra)

    def _resolve_flat(
        self, sets: ShingleSets, sketches: np.ndarray, groups: np.ndarray, extra: Mapping[int, Match] | None
    ) -> Resolution:
        """`resolve` with the lineage walk (flat.py, imported here: it builds on this module)."""
        from stages.dedup.flat import FlatInputs, resolve_flat

        collected = self._collected
        empty = np.zeros(0, dtype=np.int64)
        inputs = FlatInputs(
            self.groups, groups, _take(collected.exact_keys, np.zeros(0, dtype=np.uint64)), sketches, sets,
            _take(collected.lineages, empty), list(self._band_key_sets()),
            self._neighbours() or (empty, np.zeros(0, dtype=np.uint64)),
        )  # fmt: skip
        return resolve_flat(inputs, self.config, extra or {})

    def _band_key_sets(self) -> Iterator[np.ndarray]:
        """Each band's keys of all rows, freed as the candidates phase moves on (the largest arrays)."""
        for parts in self._collected.band_keys:
            yield _take(parts, np.zeros(0, dtype=np.uint32))

    def _neighbours(self) -> tuple[np.ndarray, np.ndarray] | None:
        collected = self._collected
        if not collected.neighbour_keys:
            return None
        return _take(collected.neighbour_rows, np.zeros(0)), _take(collected.neighbour_keys, np.zeros(0))
