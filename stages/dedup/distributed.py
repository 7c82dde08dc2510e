"""The dedup's pass 1 on Ray (PIPELINE_EXECUTOR=ray, stages/core/executor.py); pass 2 stays on the driver.

The driver (the stage's process) reads the eval rows, the seeds and the rows, as the local search does
(same order, same row numbers, same one-line errors), and sends their texts in shards to Ray actors:
    phase 1   actors (one Signer each, and the driver's eval n-gram index, shipped once) sign each shard
              and split its band and neighbour keys into partitions by (key set, key): shuffle.sign_shard
    phase 2   one task per partition counts bucket sizes; the driver sums them into each key set's
              pairing limit; one task per partition then makes its candidate pairs (sketch screen
              applied) and big-bucket entries, the pairs split again by pair: shuffle.partition_pairs
    phase 3   one task per pair partition verifies its distinct pairs with a reference row exactly
              (shuffle.reference_partition); the driver gathers the rows these confirm, and the rows
              n-gram decontamination removes, which can never be kept; one task per pair partition
              verifies the other pairs that contain none of them (shuffle.verify_partition)
    phase 4   the driver walks the confirmed pairs and big buckets in row order (near_duplicates.decide)
The per-row data stays in Ray's object store; tasks read the shards they need from it. So the result,
the written files and metrics/dedup.json are those of the local executor (tests/test_ray.py).

Driver memory: the walk's inputs, as on one machine (per row: exact key, group, sketch and shingle set;
BENCHMARKS.md, "Dedup and filter on Ray", works out 100M rows).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stages.core.executor import Executor, actor_cpus, ray_session, unwrapped, worker_count
from stages.core.tally import BATCH_ROWS, batches
from stages.dedup.candidates import Candidates
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.decontamination import NgramDecontaminator
from stages.dedup.lineage import NO_LINEAGE
from stages.dedup.near_duplicates import NGRAM, Match, Phases, Resolution, decide
from stages.dedup.params import DedupParams
from stages.dedup.search import KINDS, DuplicateSearch, Row, row_id, search
from stages.dedup.shuffle import (
    RowTable,
    ShardRows,
    pairing_limits,
    partition_pairs,
    reference_partition,
    run_size_counts,
    sign_shard,
    verify_partition,
)
from stages.dedup.signatures import ShingleSets, Signer, tokenise
from stages.dedup.verification import VerifiedPairs, never_kept_rows

SHARD_ROWS = 4 * BATCH_ROWS  # rows per actor call: ~0.3 s of signing
SHARDS_AHEAD_PER_WORKER = 4  # shards queued per actor before the driver waits (bounds queued texts)


@dataclass
class ShardSummary:
    """What the driver fetches of a signed shard: rows, neighbour keys, and rows found by n-gram
    decontamination ({global row: (eval row, similarity)})."""

    rows: int
    neighbour_keys: int
    contaminated: dict[int, tuple[int, float]] = field(default_factory=dict)


class DedupWorker:
    """A Ray actor for phase 1: a Signer, and the eval n-gram index once the driver has sent it."""

    def __init__(self, config: NearDuplicateConfig, partitions: int) -> None:
        self.config, self.partitions = config, partitions
        self.signer = Signer(config.num_perm)
        self.decontaminator: NgramDecontaminator | None = None

    def set_decontaminator(self, decontaminator: NgramDecontaminator) -> None:
        """Keep the driver's eval n-gram index for the shards of rows to deduplicate."""
        self.decontaminator = decontaminator

    def sign(self, texts: list[str], group: int, first: int, find: bool) -> list[Any]:
        """[ShardRows, ShardSummary, one KeyEntries per partition] for rows first .. of `group`."""
        batch = tokenise(texts)
        shard, parts = sign_shard(batch, group, first, self.config, self.signer, self.partitions)
        neighbours = sum(int((part.key_sets == self.config.bands).sum()) for part in parts)
        summary = ShardSummary(len(texts), neighbours)
        if find and self.decontaminator is not None:
            for local, hit in self.decontaminator.find(batch).items():
                summary.contaminated[first + local] = hit
        return [shard, summary, *parts]


def _counts_task(key_sets: int, keep: np.ndarray | None, *entries: Any) -> list[np.ndarray]:
    return run_size_counts(entries, key_sets, keep)


def _pairs_task(
    limits: list[int], config: NearDuplicateConfig, partitions: int, keep: np.ndarray | None, parts: int, *args: Any
) -> list[Any]:
    big, pairs = partition_pairs(args[:parts], limits, RowTable(args[parts:]), config, partitions, keep)
    return [big, *pairs]


def _reference_task(config: NearDuplicateConfig, dedup_group: int, parts: int, *args: Any) -> list[Any]:
    return list(reference_partition(args[:parts], RowTable(args[parts:]), dedup_group, config))


def _verify_task(config: NearDuplicateConfig, pair_keys: np.ndarray, never_kept: np.ndarray, *rows: Any) -> Any:
    return verify_partition(pair_keys, never_kept, RowTable(rows), config)


class RaySearch(DuplicateSearch):
    """`DuplicateSearch` whose phases run on Ray: the same adds in the same order, the same Resolution."""

    def __init__(self, params: DedupParams, ray: Any, workers: int, shard_rows: int = SHARD_ROWS) -> None:
        super().__init__(params)
        self.ray, self.shard_rows = ray, shard_rows
        self.partitions = max(2, 2 * workers)
        actor_class = ray.remote(num_cpus=actor_cpus(ray, workers))(DedupWorker)
        self.actors = [actor_class.remote(self.finder.config, self.partitions) for _ in range(workers)]
        self.shards: list[list[Any]] = []  # per shard: [rows ref, summary ref, one ref per partition]
        self.count = 0
        self.index_sent = False
        self.lineage_parts: list[np.ndarray] = []  # lineage numbers of the rows (lineage walk only)

    def _submit(self, texts: list[str], group: int, find: bool) -> range:
        first, ahead = self.count, SHARDS_AHEAD_PER_WORKER * len(self.actors)
        actor = self.actors[len(self.shards) % len(self.actors)]
        self.shards.append(actor.sign.options(num_returns=self.partitions + 2).remote(texts, group, first, find))
        self.count += len(texts)
        if len(self.shards) > ahead:  # wait for an older shard, so texts do not pile up in the object store
            self.ray.wait([self.shards[-ahead - 1][1]])
        return range(first, self.count)

    def add_references(self, kind: str, rows: Iterable[Row], where: str) -> None:
        """Send reference rows of `kind` ("eval" or "seed") to be signed; index eval n-grams here."""
        group = KINDS.index(kind)
        for chunk in batches(rows, self.shard_rows):
            texts = self.texts(chunk, where)
            indices = self._submit(texts, group, find=False)
            self.reference_ids += [row_id(row, where) for row in chunk]
            if kind == "eval":
                self.eval_rows += len(chunk)
                self.decontaminator.add_eval(tokenise(texts), indices)

    def add_rows(self, rows: Iterable[Row], where: str) -> None:
        """Send the rows to deduplicate to be signed (and looked up in the eval n-grams if params ask)."""
        find = self.params.decontaminate_eval
        if find and not self.index_sent:
            shipped = self.ray.put(self.decontaminator)
            for actor in self.actors:  # an actor runs one caller's calls in order: before any shard below
                actor.set_decontaminator.remote(shipped)
            self.index_sent = True
        for chunk in batches(rows, self.shard_rows):
            for row in chunk:
                row_id(row, where)  # pass 2 reports matches by id: fail now, clearly, if one is missing
            self._submit(self.texts(chunk, where), KINDS.index("synthetic"), find)
            if self.params.lineage_walk:
                self.lineage_parts.append(self.lineages.of(chunk))

    def resolve(self) -> Resolution:
        """Phases 2 to 4 on the signed shards (see the module docstring)."""
        try:
            summaries: list[ShardSummary] = self.ray.get([refs[1] for refs in self.shards])
        except self.ray.exceptions.RayTaskError as err:
            raise unwrapped(self.ray, err) from None
        finally:
            for actor in self.actors:  # frees their CPUs for the tasks below
                self.ray.kill(actor)
        for summary in summaries:
            for row, (eval_index, similarity) in summary.contaminated.items():
                self.contaminated[row] = Match(NGRAM, "eval", eval_index, similarity)
        config = self.finder.config
        if not self.count:
            self.resolution = self.finder.resolve(self.contaminated)
        elif config.lineage_walk:  # imported here: the module builds on this one
            from stages.dedup.distributed_lineage import resolve_flat_on_ray

            lineages = np.full(self.count, NO_LINEAGE, dtype=np.int64)
            lineages[len(self.reference_ids) :] = np.concatenate([np.zeros(0, dtype=np.int64), *self.lineage_parts])
            self.resolution = resolve_flat_on_ray(self.ray, self.shards, config, self.contaminated, lineages)
        else:
            neighbours = sum(summary.neighbour_keys for summary in summaries)
            sizes = (self.count, [self.count] * config.bands + [neighbours])
            phases = _phases(self.ray, self.shards, sizes, config, self.partitions, self.contaminated)
            self.resolution = decide(KINDS, config, phases, self.contaminated)
        return self.resolution


def _phases(
    ray: Any,
    shards: list[list[Any]],
    sizes: tuple[int, list[int]],
    config: NearDuplicateConfig,
    partitions: int,
    removed: Iterable[int],
    keep: np.ndarray | None = None,
) -> Phases:
    """Phases 2 and 3 as Ray tasks over the shards' refs; the walk's inputs gathered on the driver.
    `sizes`: (rows, keys of each band then neighbour keys, of the rows in `keep`); `removed`: rows
    removed by n-gram decontamination (never kept); `keep`: only these rows (sorted; default all)."""
    count, keys_per_set = sizes
    rows_refs = [refs[0] for refs in shards]
    by_partition = [[refs[2 + part] for refs in shards] for part in range(partitions)]
    counts_task, pairs_task, reference_task, verify_task = (
        ray.remote(task) for task in (_counts_task, _pairs_task, _reference_task, _verify_task)
    )
    kept = None if keep is None else ray.put(keep)
    counts = ray.get([counts_task.remote(config.bands + 1, kept, *entries) for entries in by_partition])
    limits = pairing_limits(counts, keys_per_set, config)
    paired = [
        pairs_task.options(num_returns=partitions + 1).remote(
            limits, config, partitions, kept, len(shards), *entries, *rows_refs
        )
        for entries in by_partition
    ]
    dedup_group = len(KINDS) - 1
    first = [
        reference_task.options(num_returns=2).remote(
            config, dedup_group, partitions, *[out[1 + q] for out in paired], *rows_refs
        )
        for q in range(partitions)
    ]
    reference: list[VerifiedPairs] = ray.get([out[0] for out in first])
    matched = np.concatenate([part.later for part in reference])
    never_kept = ray.put(never_kept_rows(matched, np.fromiter(removed, dtype=np.int64)))
    rest = ray.get([verify_task.remote(config, out[1], never_kept, *rows_refs) for out in first])
    big = ray.get([out[0] for out in paired])
    rows: list[ShardRows] = ray.get(rows_refs)
    return _gathered(rows, _joined_pairs(reference + rest, count), big, count)


def _joined_pairs(verified: list[VerifiedPairs], count: int) -> VerifiedPairs:
    """All partitions' confirmed pairs in one machine's order (by later row, then earlier), counts summed."""
    earlier = np.concatenate([v.earlier for v in verified])
    later = np.concatenate([v.later for v in verified])
    order = np.argsort(later * max(count, 1) + earlier, kind="stable")
    return VerifiedPairs(
        earlier[order], later[order], np.concatenate([v.similarities for v in verified])[order],
        sum(v.verified for v in verified), sum(v.confirmed for v in verified), sum(v.pruned for v in verified),
    )  # fmt: skip


def _gathered(rows: list[ShardRows], pairs: VerifiedPairs, big: list[Any], count: int) -> Phases:
    """The walk's inputs from all shards' rows, the confirmed pairs and all partitions' big-bucket entries."""
    offsets = np.cumsum([0] + [part.buckets for part in big])
    bucket_rows = np.concatenate([part.bucket_rows for part in big])
    bucket_ids = np.concatenate([part.bucket_ids + offset for part, offset in zip(big, offsets, strict=False)])
    by_row = np.argsort(bucket_rows, kind="stable")
    flags = [np.concatenate([getattr(part, name) for part in big])[by_row] for name in ("has_earlier", "has_later")]
    candidates = Candidates(pairs.earlier[:0], pairs.later[:0], bucket_rows[by_row], bucket_ids[by_row], *flags)
    sizes = np.concatenate([np.diff(shard.offsets) for shard in rows])
    offsets_all = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets_all[1:])
    sets = ShingleSets(np.concatenate([shard.values for shard in rows]), offsets_all)
    return Phases(
        pairs, candidates, np.concatenate([shard.exact_keys for shard in rows]),
        np.concatenate([shard.sketches for shard in rows]), np.concatenate([shard.groups for shard in rows]), sets,
    )  # fmt: skip


def search_on_ray(
    rows: Iterable[Row],
    seeds: Iterable[Row],
    evaluation: Iterable[Row],
    params: DedupParams,
    names: tuple[str, str, str],
    executor: Executor,
) -> DuplicateSearch:
    """`search.search` with its phases on Ray: the same DuplicateSearch result (resolution, ids, metrics)."""
    with ray_session(executor) as ray:
        found = RaySearch(params, ray, worker_count(ray, executor), executor.shard_rows or SHARD_ROWS)
        return search(rows, seeds, evaluation, params, names, found)
