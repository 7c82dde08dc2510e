"""The dedup's phases cut for a cluster (distributed.py runs them on Ray; plain numpy here, no Ray).

    sign_shard          phase 1 per shard: signatures, sketches, and the shard's band and neighbour keys
                        split into partitions by a hash of (key set, key): the hash shuffle
    run_size_counts     phase 2a per partition: how many buckets of each size; summed over partitions
                        they give each key set's pairing limit exactly as on one machine
    partition_pairs     phase 2b per partition: its buckets as candidate pairs (sketch screen applied)
                        or big-bucket entries; pairs go on, split by a hash of the pair
    reference_partition phase 3a per pair partition: each pair once (a pair sharing buckets in several
                        partitions meets itself here); the pairs with a reference row checked exactly
    verify_partition    phase 3b per pair partition: the other pairs, unless a row of them can never be
                        kept (a confirmed reference pair in any partition, or n-gram decontamination:
                        verification.py, "Reference first"), checked exactly
The walk (phase 4) stays on the driver, in row order, so removals never chain.
With the lineage walk (flat.py) the shards also carry each row's LSH keys, and:
    reference_pairs_partition  step 1 per key partition: its (reference, row) pairs, split by pair
    verify_pairs_partition     step 1 per pair partition: each pair once, checked exactly
    lineage_partition          step 2 per lineage partition: its lineages walked
and step 3 is phases 2 and 3 above with every partition's keys narrowed to the survivors (`keep`).

Every bucket is the same set of rows as on one machine (a key's rows all land in one partition), the
pairing limits are computed from all partitions' bucket sizes, each pair is verified once, and the rows
that prune pairs are gathered from all partitions between 3a and 3b, so the pairs, entries and counts
that reach the walk are those of `NearDuplicateFinder.resolve`. Rows are numbered globally (their
position among all rows added), so a shard needs only its first row number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stages.dedup.arrays import contains, fmix64, ragged_ranges, sorted_unique
from stages.dedup.candidates import BucketSplitter, Candidates, pairing_limit, shared_runs
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.flat import RowLookups, reference_pair_keys
from stages.dedup.lineage import LineageInput, LineageOutcome, tagged_keys, walk_lineages
from stages.dedup.near_duplicates import sign_batch
from stages.dedup.signatures import ShingleSets, Signer, TokenisedBatch
from stages.dedup.verification import VerifiedPairs, unpruned, verify_pairs

_KEY_SET_SALT = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class ShardRows:
    """Per-row data of one shard, numbered from `first`: group index (int8), exact key (uint64), shingle
    sets (uint32 values, int64 offsets) and b-bit sketches ((rows, width) uint8)."""

    first: int
    groups: np.ndarray
    exact_keys: np.ndarray
    values: np.ndarray
    offsets: np.ndarray
    sketches: np.ndarray
    key_offsets: np.ndarray | None = None  # each row's LSH keys (lineage.tagged_keys), lineage walk only
    key_values: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.groups)


@dataclass
class KeyEntries:
    """Keys of one partition: key set (int64: a band, or `bands` for neighbour keys), key (uint64), row."""

    key_sets: np.ndarray
    keys: np.ndarray
    rows: np.ndarray


def partition_of(values: np.ndarray, partitions: int) -> np.ndarray:
    """A partition number in [0, partitions) per uint64 value (well mixed, fixed forever)."""
    return (fmix64(values.astype(np.uint64)) % np.uint64(partitions)).astype(np.int64)


def sign_shard(
    batch: TokenisedBatch, group: int, first: int, config: NearDuplicateConfig, signer: Signer, partitions: int
) -> tuple[ShardRows, list[KeyEntries]]:
    """Phase 1 for rows first .. first + len(batch) - 1 of `group`: their per-row data (with each row's
    LSH keys if `config.lineage_walk`), and their keys split into `partitions` KeyEntries by (key set, key)."""
    signed = sign_batch(batch, config, signer)
    count = len(batch)
    key_sets = [np.full(count, band, dtype=np.int64) for band in range(config.bands)]
    keys = [band.astype(np.uint64) for band in signed.band_keys]
    rows = [np.arange(first, first + count, dtype=np.int64)] * config.bands
    key_sets.append(np.full(len(signed.neighbour_keys), config.bands, dtype=np.int64))
    keys.append(signed.neighbour_keys)
    rows.append(signed.neighbour_rows + first)
    all_sets, all_keys, all_rows = np.concatenate(key_sets), np.concatenate(keys), np.concatenate(rows)
    target = partition_of(all_keys ^ (all_sets.astype(np.uint64) * _KEY_SET_SALT), partitions)
    order = np.argsort(target, kind="stable")
    bounds = np.searchsorted(target[order], np.arange(partitions + 1))
    parts = [order[bounds[p] : bounds[p + 1]] for p in range(partitions)]
    shard = ShardRows(
        first, np.full(count, group, dtype=np.int8), batch.exact_keys,
        signed.sets.values, signed.sets.offsets, signed.sketches,
    )  # fmt: skip
    if config.lineage_walk:
        shard.key_offsets, shard.key_values = tagged_keys(
            signed.band_keys, (signed.neighbour_rows, signed.neighbour_keys), count
        )
    return shard, [KeyEntries(all_sets[part], all_keys[part], all_rows[part]) for part in parts]


def _joined(entries: Sequence[KeyEntries]) -> KeyEntries:
    return KeyEntries(*(np.concatenate([getattr(e, name) for e in entries]) for name in ("key_sets", "keys", "rows")))


def _key_set_runs(entries: KeyEntries, key_set: int) -> tuple[np.ndarray, np.ndarray]:
    chosen = entries.key_sets == key_set
    return entries.keys[chosen], entries.rows[chosen]


def _kept(entries: KeyEntries, keep: np.ndarray | None) -> KeyEntries:
    """The entries of the rows in the sorted `keep` (all of them if it is None)."""
    if keep is None:
        return entries
    chosen = contains(keep, entries.rows)
    return KeyEntries(entries.key_sets[chosen], entries.keys[chosen], entries.rows[chosen])


def run_size_counts(entries: Sequence[KeyEntries], key_sets: int, keep: np.ndarray | None = None) -> list[np.ndarray]:
    """Phase 2a: per key set, the number of buckets (keys shared by 2+ rows) of each size (bincount);
    `keep`: only these rows' keys (sorted; default all)."""
    joined, counts = _kept(_joined(entries), keep), []
    for key_set in range(key_sets):
        _, bounds = shared_runs(*_key_set_runs(joined, key_set))
        counts.append(np.bincount(np.diff(bounds)))
    return counts


def pairing_limits(
    counts: Sequence[Sequence[np.ndarray]], keys_per_set: Sequence[int], config: NearDuplicateConfig
) -> list[int]:
    """Each key set's largest bucket to pair, from every partition's `run_size_counts` and the key
    set's number of keys: `candidates.pairing_limit` of all its buckets, as on one machine."""
    limits = []
    for key_set, keys in enumerate(keys_per_set):
        parts = [partition[key_set] for partition in counts]
        total = np.zeros(max(len(part) for part in parts), dtype=np.int64)
        for part in parts:
            total[: len(part)] += part
        sizes = np.repeat(np.arange(len(total), dtype=np.int64), total)
        limits.append(pairing_limit(sizes, config.pairs_per_row * keys, config))
    return limits


class RowTable:
    """The rows of many shards, looked up by global row number (for pairs that span shards)."""

    def __init__(self, shards: Sequence[ShardRows]) -> None:
        self.shards = list(shards)
        self.starts = np.array([s.first for s in self.shards] + [sum(len(s) for s in self.shards)], dtype=np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _by_shard(self, rows: np.ndarray) -> list[tuple[ShardRows, np.ndarray, np.ndarray]]:
        """(shard, positions in `rows`, local row numbers) for every shard that `rows` touches."""
        order = np.argsort(rows, kind="stable")
        shard_of = np.searchsorted(self.starts, rows[order], side="right") - 1
        if not len(order):
            return []
        cuts = np.flatnonzero(shard_of[1:] != shard_of[:-1]) + 1
        found = []
        for number, positions in zip(shard_of[np.append(0, cuts)].tolist(), np.split(order, cuts), strict=True):
            shard = self.shards[number]
            found.append((shard, positions, rows[positions] - shard.first))
        return found

    def take(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Field `name` (groups, exact_keys, sketches or sizes) of each of `rows`, in their order."""
        probe = self.shards[0]
        if name == "sizes":
            result = np.empty(len(rows), dtype=np.int64)
        else:
            template = getattr(probe, name)
            result = np.empty((len(rows), *template.shape[1:]), dtype=template.dtype)
        for shard, positions, local in self._by_shard(rows):
            if name == "sizes":
                result[positions] = shard.offsets[local + 1] - shard.offsets[local]
            else:
                result[positions] = getattr(shard, name)[local]
        return result

    def sets(self, rows: np.ndarray) -> ShingleSets:
        """The shingle sets of the sorted distinct `rows`, numbered 0, 1, 2, ... in that order."""
        offsets, values = self.ragged(rows, "offsets", "values", np.uint32)
        return ShingleSets(values, offsets)

    def ragged(self, rows: np.ndarray, offsets: str, values: str, dtype: type) -> tuple[np.ndarray, np.ndarray]:
        """A per-row ragged field (shingle sets: "offsets", "values"; LSH keys: "key_offsets", "key_values")
        of the sorted distinct `rows`: (offsets, rows + 1, int64; values, `dtype`), numbered like `rows`."""
        parts, sizes = [], np.zeros(len(rows), dtype=np.int64)
        for shard, positions, local in self._by_shard(rows):
            starts, ends = getattr(shard, offsets)[local], getattr(shard, offsets)[local + 1]
            parts.append(getattr(shard, values)[ragged_ranges(starts, ends - starts)])
            sizes[positions] = ends - starts
        bounds = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(sizes, out=bounds[1:])
        return bounds, np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


class _Lookup:
    """`table.take(name, rows)` as `lookup[rows]`, so the bucket splitter reads shards like an array."""

    def __init__(self, table: RowTable, name: str) -> None:
        self.table, self.name = table, name

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        return self.table.take(self.name, rows)


def partition_pairs(
    entries: Sequence[KeyEntries],
    limits: Sequence[int],
    table: RowTable,
    config: NearDuplicateConfig,
    partitions: int,
    keep: np.ndarray | None = None,
) -> tuple[Candidates, list[np.ndarray]]:
    """Phase 2b: this partition's big-bucket entries (ids numbered from 0 here), and its candidate
    pairs as keys later * rows + earlier, split into `partitions` by a hash of the key; `keep`: only
    these rows' keys (sorted; default all)."""
    joined = _kept(_joined(entries), keep)
    splitter = BucketSplitter(config, _Lookup(table, "sketches"), _Lookup(table, "sizes"))
    for key_set, limit in enumerate(limits):
        keys, rows = _key_set_runs(joined, key_set)
        splitter.split(keys, rows, screen=key_set < config.bands, limit=limit)
    found = splitter.candidates()
    pair_keys = found.later * splitter.total + found.earlier
    empty = np.zeros(0, dtype=np.int64)
    big = Candidates(empty, empty, found.bucket_rows, found.bucket_ids, found.has_earlier, found.has_later)
    return big, _split_pairs(pair_keys, partitions)


def _split_pairs(pair_keys: np.ndarray, partitions: int) -> list[np.ndarray]:
    """Pair keys split into `partitions` by a hash of the key (each pair lands in one partition)."""
    target = partition_of(pair_keys.astype(np.uint64), partitions)
    return [pair_keys[target == part] for part in range(partitions)]


def _verified(earlier: np.ndarray, later: np.ndarray, table: RowTable, config: NearDuplicateConfig) -> VerifiedPairs:
    """`verify_pairs` of global rows, the shingle sets read from the shards; rows in the result are global."""
    involved = sorted_unique(np.concatenate([earlier, later]))
    sets = table.sets(involved)
    local = verify_pairs(sets, np.searchsorted(involved, earlier), np.searchsorted(involved, later), config)
    return VerifiedPairs(
        involved[local.earlier], involved[local.later], local.similarities, local.verified, local.confirmed
    )


def reference_partition(
    pair_keys: Sequence[np.ndarray], table: RowTable, dedup_group: int, config: NearDuplicateConfig
) -> tuple[VerifiedPairs, np.ndarray]:
    """Phase 3a: of this partition's distinct pairs whose later row is deduplicated (not a reference),
    those with a reference row checked on the exact shingle sets, and the others' keys (later * rows +
    earlier, int64) for phase 3b. Without `config.reference_first`, every pair waits for phase 3b."""
    unique = sorted_unique(np.concatenate(pair_keys)) if pair_keys else np.zeros(0, dtype=np.int64)
    total = max(len(table), 1)
    earlier, later = unique % total, unique // total
    decided = table.take("groups", later) == dedup_group
    reference = decided & (table.take("groups", earlier) != dedup_group) & config.reference_first
    return _verified(earlier[reference], later[reference], table, config), unique[decided & ~reference]


def verify_partition(
    pair_keys: np.ndarray, never_kept: np.ndarray, table: RowTable, config: NearDuplicateConfig
) -> VerifiedPairs:
    """Phase 3b: this partition's remaining pairs (keys from `reference_partition`) that contain no row of
    the sorted `never_kept` (verification.never_kept_rows of all partitions) checked on the exact shingle
    sets; the others counted as pruned."""
    total = max(len(table), 1)
    earlier, later = pair_keys % total, pair_keys // total
    kept = unpruned(earlier, later, never_kept)
    found = _verified(earlier[kept], later[kept], table, config)
    found.pruned = len(pair_keys) - int(kept.sum())
    return found


# --- the lineage walk (flat.py) ----------------------------------------------------------------------


def reference_pairs_partition(
    entries: Sequence[KeyEntries], table: RowTable, dedup_group: int, config: NearDuplicateConfig, partitions: int
) -> list[np.ndarray]:
    """Step 1 per key partition: its (reference, deduplicated row) pairs sharing a key (flat.reference_join,
    band keys screened), as keys later * rows + earlier split into `partitions` by a hash of the key."""
    joined = _joined(entries)
    key_sets = [(*_key_set_runs(joined, key_set), key_set < config.bands) for key_set in range(config.bands + 1)]
    lookups = RowLookups(*(_Lookup(table, name) for name in ("groups", "exact_keys", "sketches", "sizes")), dedup_group)
    return _split_pairs(reference_pair_keys(key_sets, lookups, config, max(len(table), 1)), partitions)


def verify_pairs_partition(
    pair_keys: Sequence[np.ndarray], table: RowTable, config: NearDuplicateConfig
) -> VerifiedPairs:
    """Step 1 per pair partition: its distinct pairs (keys from every key partition) checked exactly."""
    unique = sorted_unique(np.concatenate(pair_keys)) if pair_keys else np.zeros(0, dtype=np.int64)
    total = max(len(table), 1)
    return _verified(unique % total, unique // total, table, config)


def lineage_partition(
    rows: np.ndarray, lineages: np.ndarray, table: RowTable, config: NearDuplicateConfig
) -> LineageOutcome:
    """Step 2 per lineage partition: the lineages of the sorted `rows` (their lineage numbers) walked."""
    key_offsets, key_values = table.ragged(rows, "key_offsets", "key_values", np.uint64)
    data = LineageInput(
        rows, lineages, key_offsets, key_values, table.take("exact_keys", rows), table.take("sketches", rows),
        table.sets(rows),
    )  # fmt: skip
    return walk_lineages(data, config)
