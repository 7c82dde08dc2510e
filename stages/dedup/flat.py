"""The flat option (params `dedup.lineage_walk`): references first, then each lineage alone, then the
global search on what the lineages keep.

    1. references  every (reference row, deduplicated row) pair sharing an LSH key (a band key, with the
                   sketch screen, or a neighbour key) is checked on the exact shingle sets. A row with a
                   confirmed pair, an exact copy of a reference or a row n-gram decontamination removes goes
                   with the match the default walk gives it (exact_eval, ngram_eval, near_eval, exact_seed,
                   near_seed): references rank before every synthetic row, so a row's best match is a
                   reference whenever it has one, whatever else it matches. Eval contamination is found
                   exactly as without the option.
    2. lineages    the other rows, each lineage alone in row order (lineage.py): a copy or near-copy of a
                   kept row of its own lineage goes as exact_synthetic / near_synthetic, "within its lineage".
    3. global      the survivors (kept by their lineage walk, and rows without a lineage) through the
                   candidates, verification and walk of the default (candidates.py, verification.py,
                   walk.py); what it removes is reported as without the option.
So a row's cost is its lineage's kept rows that look like it, then, if it survives, the default search
among survivors only. It decides differently from the default in one way: a row removed inside its
lineage stays removed even if the row that removed it goes in step 3 (the default keeps it if no kept
row matches it), and it reports its lineage's best match where the default may report a more similar
row of another lineage. Both need a row to be a near-copy of a sibling; README, "Lineage-first
comparison", says when to turn it on. distributed_lineage.py runs the same steps on Ray.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stages.dedup.arrays import contains, ragged_ranges, sorted_unique
from stages.dedup.candidates import find_candidates, screened_pairs
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.lineage import NO_LINEAGE, LineageInput, LineageOutcome, tagged_keys, walk_lineages
from stages.dedup.near_duplicates import EXACT, NEAR, Match, Phases, Resolution, decide
from stages.dedup.signatures import ShingleSets
from stages.dedup.verification import VerifiedPairs, verify_pairs
from stages.dedup.walk import EXACT_RANK, NEAR_RANK

WITHIN_LINEAGE = "within its lineage"  # the detail on rows the lineage walk removes
KeySet = tuple[np.ndarray, np.ndarray, bool]  # (keys, their rows, sketch screen on)


@dataclass
class RowLookups:
    """Per row, indexed by row number (numpy arrays, or shuffle.py's lookups into the shards): group index,
    exact key, b-bit sketch and shingle-set size; `dedup_group` is the deduplicated group's index."""

    groups: Any
    exact_keys: Any
    sketches: Any
    sizes: Any
    dedup_group: int


def reference_join(keys: np.ndarray, rows: np.ndarray, lookups: RowLookups) -> tuple[np.ndarray, np.ndarray]:
    """One key set's (reference row, deduplicated row) pairs that share a key: (earlier, later) int64.
    `keys` and `rows` are the key set's entries. Of references with the same key and exact key only the
    first is paired: identical word sets, the later ones can never be a best match before it."""
    is_reference = np.asarray(lookups.groups[rows]) != lookups.dedup_group
    empty = np.zeros(0, dtype=np.int64)
    if not is_reference.any() or is_reference.all():
        return empty, empty
    reference_rows, reference_keys = rows[is_reference], keys[is_reference].astype(np.uint64)
    exact = lookups.exact_keys[reference_rows]
    order = np.lexsort((reference_rows, exact, reference_keys))
    reference_rows, reference_keys, exact = reference_rows[order], reference_keys[order], exact[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (reference_keys[1:] != reference_keys[:-1]) | (exact[1:] != exact[:-1])
    reference_rows, reference_keys = reference_rows[first], reference_keys[first]
    other_keys, other_rows = keys[~is_reference].astype(np.uint64), rows[~is_reference]
    low = np.searchsorted(reference_keys, other_keys, side="left")
    counts = np.searchsorted(reference_keys, other_keys, side="right") - low
    return reference_rows[ragged_ranges(low, counts)], np.repeat(other_rows, counts)


def reference_pair_keys(
    key_sets: Iterable[KeySet], lookups: RowLookups, config: NearDuplicateConfig, total: int
) -> np.ndarray:
    """The distinct reference pairs of these key sets, sketch screen applied where a key set asks for it,
    as keys later * total + earlier (sorted int64)."""
    parts = [np.zeros(0, dtype=np.int64)]
    for keys, rows, screen in key_sets:
        earlier, later = reference_join(keys, rows, lookups)
        if screen:
            earlier, later = screened_pairs(earlier, later, lookups.sketches, lookups.sizes, config)
        parts.append(sorted_unique(later * total + earlier, in_place=True))
    return sorted_unique(np.concatenate(parts), in_place=True)


def _reference_twins(groups: np.ndarray, exact_keys: np.ndarray, dedup_group: int) -> np.ndarray:
    """Per row: the first reference row with its exact key (int64; -1 for none, and for references)."""
    twins = np.full(len(groups), -1, dtype=np.int64)
    references = np.flatnonzero(groups != dedup_group)
    if not len(references):
        return twins
    keys = exact_keys[references]
    order = np.argsort(keys, kind="stable")  # stable: the earliest reference first among equal keys
    ordered = keys[order]
    first = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    unique_keys, first_rows = ordered[first], references[order][first]
    rows = np.flatnonzero(groups == dedup_group)
    at = np.minimum(np.searchsorted(unique_keys, exact_keys[rows]), len(unique_keys) - 1)
    hit = unique_keys[at] == exact_keys[rows]
    twins[rows[hit]] = first_rows[at[hit]]
    return twins


def reference_matches(
    pairs: VerifiedPairs, groups: np.ndarray, exact_keys: np.ndarray, names: Sequence[str], extra: Mapping[int, Match]
) -> dict[int, Match]:
    """Step 1's decisions from the confirmed reference pairs: per deduplicated row with a reference match,
    the best (group, exact before near, most similar, earliest), as the default walk picks it; a row of
    `extra` (n-gram decontamination, a reference group's match) keeps that match unless its best is an
    exact copy of a row of an earlier or equal group. `groups` and `exact_keys`: every row's."""
    twins = _reference_twins(groups, exact_keys, len(names) - 1)
    with_twin = np.flatnonzero(twins >= 0)  # the twin's pair, if confirmed too, ranks after its exact match
    row = np.concatenate([with_twin, pairs.later])
    other = np.concatenate([twins[with_twin], pairs.earlier])
    rank = np.concatenate([np.full(len(with_twin), EXACT_RANK), np.full(len(pairs.later), NEAR_RANK)])
    negative = np.concatenate([np.full(len(with_twin), -1.0), -pairs.similarities])
    group = groups[other].astype(np.int64)
    order = np.lexsort((other, negative, rank, group, row))
    best = order[np.concatenate([[True], row[order][1:] != row[order][:-1]])] if len(order) else order
    found: dict[int, Match] = {}
    for values in zip(*(part[best].tolist() for part in (row, group, rank, negative, other)), strict=True):
        at, group_of, rank_of, negative_of, other_of = values
        match = Match(EXACT if rank_of == EXACT_RANK else NEAR, names[group_of], other_of, round(-negative_of, 4))
        removed = extra.get(at)
        if removed is None or (rank_of == EXACT_RANK and group_of <= names.index(removed.group)):
            found[at] = match
    for at, removed in extra.items():
        found.setdefault(at, removed)
    return found


def lineage_rows(groups: np.ndarray, lineages: np.ndarray, removed: np.ndarray, dedup_group: int) -> np.ndarray:
    """Step 2's rows: deduplicated rows with a lineage that step 1 did not remove (sorted `removed`)."""
    rows = np.flatnonzero((groups == dedup_group) & (lineages != NO_LINEAGE))
    return rows[~contains(removed, rows)]


def survivor_rows(groups: np.ndarray, removed: np.ndarray, dedup_group: int) -> np.ndarray:
    """Step 3's rows: deduplicated rows that steps 1 and 2 did not remove (sorted `removed`)."""
    rows = np.flatnonzero(groups == dedup_group)
    return rows[~contains(removed, rows)]


def removed_rows(reference: Mapping[int, Match], walked: LineageOutcome | None = None) -> np.ndarray:
    """The rows steps 1 (and 2) removed, sorted int64."""
    rows = list(reference) + ([] if walked is None else [match[0] for match in walked.matched])
    return np.sort(np.array(rows, dtype=np.int64))


def combined(
    names: Sequence[str], reference: tuple[Mapping[int, Match], VerifiedPairs], walked: LineageOutcome,
    rest: Resolution, survivors: int,
) -> Resolution:  # fmt: skip
    """The three steps' decisions as one Resolution (`rest`: step 3's, over all rows), pair counts summed,
    and the `lineage_walk` figures of metrics/dedup.json."""
    matches, pairs = list(rest.matches), reference[1]
    for row, match in reference[0].items():
        matches[row] = match
    for row, rank, similarity, other in walked.matched:
        kind = EXACT if rank == EXACT_RANK else NEAR
        matches[row] = Match(kind, names[-1], other, similarity, WITHIN_LINEAGE)
    result = Resolution(
        matches, candidate_pairs=pairs.verified + walked.candidate_pairs + rest.candidate_pairs,
        verified=pairs.verified + walked.verified + rest.verified,
        confirmed=pairs.confirmed + walked.confirmed + rest.confirmed,
    )  # fmt: skip
    result.lineage_walk = {
        "reference_pairs_verified": pairs.verified, "removed_by_references": len(reference[0]),
        "lineages": walked.lineages, "rows_walked": walked.rows, "removed_within_lineages": len(walked.matched),
        "lineage_pairs_verified": walked.verified, "survivors": survivors,
        "global_candidate_pairs": rest.candidate_pairs, "global_pairs_verified": rest.verified,
    }  # fmt: skip
    return result


# --- one machine -----------------------------------------------------------------------------------


@dataclass
class FlatInputs:
    """Every row's data (in the order added): group index, exact key, sketch, shingle set and lineage
    number; each band's keys; the neighbour keys (rows, keys). `names`: the groups, deduplicated last."""

    names: Sequence[str]
    groups: np.ndarray
    exact_keys: np.ndarray
    sketches: np.ndarray
    sets: ShingleSets
    lineages: np.ndarray
    band_keys: list[np.ndarray]
    neighbours: tuple[np.ndarray, np.ndarray]

    def lookups(self) -> RowLookups:
        """The per-row lookups of `reference_pair_keys` (numpy arrays)."""
        sizes = np.diff(self.sets.offsets)
        return RowLookups(self.groups, self.exact_keys, self.sketches, sizes, len(self.names) - 1)


def subset_sets(sets: ShingleSets, rows: np.ndarray) -> ShingleSets:
    """The shingle sets of `rows`, numbered 0, 1, 2, ... in their order."""
    starts = sets.offsets[rows]
    sizes = sets.offsets[rows + 1] - starts
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return ShingleSets(sets.values[ragged_ranges(starts, sizes)], offsets)


def _lineage_input(rows: np.ndarray, inputs: FlatInputs) -> LineageInput:
    neighbour_rows, neighbour_keys = inputs.neighbours
    inside = contains(rows, neighbour_rows)
    neighbours = (np.searchsorted(rows, neighbour_rows[inside]), neighbour_keys[inside])
    offsets, values = tagged_keys([keys[rows] for keys in inputs.band_keys], neighbours, len(rows))
    return LineageInput(
        rows, inputs.lineages[rows], offsets, values, inputs.exact_keys[rows], inputs.sketches[rows],
        subset_sets(inputs.sets, rows),
    )  # fmt: skip


def resolve_flat(inputs: FlatInputs, config: NearDuplicateConfig, extra: Mapping[int, Match]) -> Resolution:
    """The three steps (module docstring) on one machine; `extra`: rows n-gram decontamination removes."""
    total, dedup_group = len(inputs.groups), len(inputs.names) - 1
    everyone = np.arange(total, dtype=np.int64)
    key_sets = [(keys, everyone, True) for keys in inputs.band_keys] + [(*inputs.neighbours[::-1], False)]
    keys = reference_pair_keys(key_sets, inputs.lookups(), config, total)
    pairs = verify_pairs(inputs.sets, keys % max(total, 1), keys // max(total, 1), config)
    reference = reference_matches(pairs, inputs.groups, inputs.exact_keys, inputs.names, extra)
    walk = lineage_rows(inputs.groups, inputs.lineages, removed_rows(reference), dedup_group)
    walked = walk_lineages(_lineage_input(walk, inputs), config)
    survivors = survivor_rows(inputs.groups, removed_rows(reference, walked), dedup_group)
    sizes = np.diff(inputs.sets.offsets)
    candidates = find_candidates(inputs.band_keys, inputs.neighbours, inputs.sketches, sizes, config, survivors)
    verified = verify_pairs(inputs.sets, candidates.earlier, candidates.later, config)
    phases = Phases(verified, candidates, inputs.exact_keys, inputs.sketches, inputs.groups, inputs.sets)
    rest = decide(inputs.names, config, phases, None)
    return combined(inputs.names, (reference, pairs), walked, rest, len(survivors))
