"""The lineage walk (params `dedup.lineage_walk`, flat.py) on Ray: flat.py's three steps over the shards
that distributed.py's actors signed (each shard then carries its rows' LSH keys too).

    step 1   one task per key partition joins its reference and row keys (shuffle.reference_pairs_partition),
             the pairs split again by pair; one task per pair partition checks its distinct pairs exactly
             (shuffle.verify_pairs_partition); the driver picks each row's reference match
             (flat.reference_matches) from the confirmed pairs and the gathered exact keys
    step 2   one task per lineage partition (lineage number mod partitions) walks its lineages
             (shuffle.lineage_partition); the driver merges the outcomes by row
    step 3   distributed.py's phases 2 and 3 with every partition's keys narrowed to the survivors, and
             the walk on the driver (near_duplicates.decide)
Lineages are independent and every pair is found and checked once, as on one machine, so the
Resolution, and with it every output, is that of `flat.resolve_flat` (tests/test_dedup_flat.py runs these
functions without Ray, tests/test_ray.py with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stages.dedup.config import NearDuplicateConfig
from stages.dedup.distributed import _joined_pairs, _phases
from stages.dedup.flat import combined, lineage_rows, reference_matches, removed_rows, survivor_rows
from stages.dedup.lineage import LineageOutcome
from stages.dedup.near_duplicates import Match, Resolution, decide
from stages.dedup.search import KINDS
from stages.dedup.shuffle import (
    RowTable,
    ShardRows,
    lineage_partition,
    reference_pairs_partition,
    verify_pairs_partition,
)
from stages.dedup.verification import VerifiedPairs

DEDUP_GROUP = len(KINDS) - 1


def _reference_pairs_task(config: NearDuplicateConfig, partitions: int, parts: int, *args: Any) -> list[np.ndarray]:
    return reference_pairs_partition(args[:parts], RowTable(args[parts:]), DEDUP_GROUP, config, partitions)


def _verify_pairs_task(config: NearDuplicateConfig, parts: int, *args: Any) -> VerifiedPairs:
    return verify_pairs_partition(args[:parts], RowTable(args[parts:]), config)


def _lineage_task(config: NearDuplicateConfig, rows: np.ndarray, lineages: np.ndarray, *shards: Any) -> LineageOutcome:
    return lineage_partition(rows, lineages, RowTable(shards), config)


def _reference_pairs(ray: Any, shards: list[list[Any]], config: NearDuplicateConfig, count: int) -> VerifiedPairs:
    """Step 1's confirmed pairs over `count` rows, in one machine's order (by later row, then earlier)."""
    rows_refs, partitions = [refs[0] for refs in shards], len(shards[0]) - 2
    pairs_task, verify_task = ray.remote(_reference_pairs_task), ray.remote(_verify_pairs_task)
    split = [
        pairs_task.options(num_returns=partitions).remote(
            config, partitions, len(shards), *[refs[2 + part] for refs in shards], *rows_refs
        )
        for part in range(partitions)
    ]
    verified = [
        verify_task.remote(config, partitions, *[out[q] for out in split], *rows_refs) for q in range(partitions)
    ]
    return _joined_pairs(ray.get(verified), count)


def _walked(
    ray: Any, shards: list[list[Any]], config: NearDuplicateConfig, rows: np.ndarray, lineages: np.ndarray
) -> LineageOutcome:
    """Step 2: the lineages of the sorted `rows` walked, one task per lineage partition."""
    rows_refs, partitions = [refs[0] for refs in shards], len(shards[0]) - 2
    task = ray.remote(_lineage_task)
    part_of = lineages[rows] % partitions
    outcomes = []
    for part in range(partitions):
        chosen = rows[part_of == part]
        if len(chosen):
            outcomes.append(task.remote(config, chosen, lineages[chosen], *rows_refs))
    return LineageOutcome.merged(ray.get(outcomes))


def resolve_flat_on_ray(
    ray: Any, shards: list[list[Any]], config: NearDuplicateConfig, extra: Mapping[int, Match], lineages: np.ndarray
) -> Resolution:
    """flat.resolve_flat over the signed `shards` (distributed.py's refs: rows, summary, one per key
    partition); `extra`: rows n-gram decontamination removes; `lineages`: every row's lineage number."""
    count = len(lineages)
    pairs = _reference_pairs(ray, shards, config, count)
    rows: list[ShardRows] = ray.get([refs[0] for refs in shards])
    groups = np.concatenate([shard.groups for shard in rows])
    exact_keys = np.concatenate([shard.exact_keys for shard in rows])
    reference = reference_matches(pairs, groups, exact_keys, KINDS, extra)
    walk = lineage_rows(groups, lineages, removed_rows(reference), DEDUP_GROUP)
    walked = _walked(ray, shards, config, walk, lineages)
    survivors = survivor_rows(groups, removed_rows(reference, walked), DEDUP_GROUP)
    keys_per_row = np.concatenate([np.diff(shard.key_offsets) for shard in rows])  # bands + neighbour keys
    neighbours = int(keys_per_row[survivors].sum()) - config.bands * len(survivors)
    sizes = (count, [len(survivors)] * config.bands + [neighbours])
    phases = _phases(ray, shards, sizes, config, len(shards[0]) - 2, [], keep=survivors)
    return combined(KINDS, (reference, pairs), walked, decide(KINDS, config, phases, None), len(survivors))
