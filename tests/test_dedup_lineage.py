"""Dedup's reference-first pruning (stages/dedup/verification.py): pairs of two synthetic rows that contain
a row matched by a reference (eval row, seed) or removed by n-gram decontamination are dropped unchecked.

Every test runs the same input with pruning on and off and asserts identical matches (row, kind, group,
matched row, similarity), and equal to a brute-force greedy over all rows; and that fewer pairs are checked.
Inputs: many variations per seed (lineages), rows near an eval row, exact copies of seeds and eval rows,
chains through a reference-matched row (it would be the kept partner of a later row if it were kept), and
rows removed by n-gram decontamination. The Ray path's phases (shuffle.py) are run here in one process,
without Ray, against the local finder.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from stages.core.text import jaccard
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.distributed import _gathered, _joined_pairs
from stages.dedup.near_duplicates import NGRAM, Match, NearDuplicateFinder, Resolution, decide
from stages.dedup.params import DedupParams
from stages.dedup.search import KINDS, DuplicateSearch, search
from stages.dedup.shuffle import (
    RowTable,
    pairing_limits,
    partition_pairs,
    reference_partition,
    run_size_counts,
    sign_shard,
    verify_partition,
)
from stages.dedup.signatures import Signer, exact_key, shingle_set, tokenise
from stages.dedup.verification import is_near_duplicate, never_kept_rows

VOCABULARY = [f"w{i}" for i in range(400)]
CONFIG = NearDuplicateConfig(ngram=1, num_perm=128, bands=32, rows_per_band=4, threshold=0.8, max_difference=2)
EVAL, SEED, SYNTHETIC = range(3)
Input = list[tuple[int, str]]  # (group, text) in the order added: eval rows, seeds, then synthetic rows


def _edited(text: str, rng: random.Random, edits: int) -> str:
    tokens = text.split()
    for _ in range(edits):
        tokens[rng.randrange(len(tokens))] = rng.choice(VOCABULARY)
    return " ".join(tokens)


def _texts(rng: random.Random, count: int) -> list[str]:
    return [" ".join(rng.sample(VOCABULARY, rng.randint(14, 24))) for _ in range(count)]


def lineages(seed: int = 1, per_seed: int = 60) -> Input:
    """8 seeds with `per_seed` variations each, shuffled: a variation is its seed or one of the seed's 3
    branches (5 words replaced: not near the seed) with 0-3 words replaced, so it is a near-copy of its
    seed, of its siblings, or of neither; and 4 eval rows with 10 variations each."""
    rng = random.Random(seed)
    evaluation, seeds = _texts(rng, 4), _texts(rng, 8)
    rows = []
    for text in seeds:
        origins = [text, *(_edited(text, rng, 5) for _ in range(3))]
        rows += [_edited(rng.choice(origins), rng, rng.choice([0, 1, 2, 3])) for _ in range(per_seed)]
    rows += [_edited(text, rng, rng.choice([1, 2, 5])) for text in evaluation for _ in range(10)]
    rng.shuffle(rows)
    return [(EVAL, t) for t in evaluation] + [(SEED, t) for t in seeds] + [(SYNTHETIC, t) for t in rows]


def copies_and_chains() -> Input:
    """Chains a ~ reference, b ~ a, c ~ b with b not near the reference (22 words, 2 replaced at each
    step: Jaccard 0.83 between neighbours, 0.69 two steps apart): a goes, so b, which a would remove if
    it were kept, stays and removes c. Also exact copies of the seeds and eval rows, a second (exact) copy
    of a, an edited b, the reference minus its first word, and 5 copies of a near-copy of one seed."""
    rng = random.Random(7)
    references = [" ".join(rng.sample(VOCABULARY, 22)) for _ in range(8)]
    evaluation, seeds = references[:3], references[3:]
    rows = []
    for number, text in enumerate([*seeds, *evaluation]):
        words = text.split()
        for step in range(3):
            words[2 * step : 2 * step + 2] = [f"r{number}s{step}a", f"r{number}s{step}b"]
            rows.append(" ".join(words))
        a, b, c = rows[-3:]
        rows += [text, a, _edited(b, rng, 1), " ".join(text.split()[1:]), c]
    rows += [" ".join(seeds[0].split()[:-1])] * 5
    return [(EVAL, t) for t in evaluation] + [(SEED, t) for t in seeds] + [(SYNTHETIC, t) for t in rows]


def brute_force(rows: Input, config: NearDuplicateConfig) -> list[tuple[str, str, int, float] | None]:
    """The greedy walk by definition: each synthetic row against every earlier kept row (references are
    always kept): the best of the first kept exact copy and the near-duplicates, by (group, exact before
    near, most similar, earliest); (kind, group, row, similarity) or None."""
    sets = [shingle_set(text, config.ngram) for _, text in rows]
    keys = [exact_key(text) for _, text in rows]
    kept: list[int] = []
    found: list[tuple[str, str, int, float] | None] = []
    for index, (group, _) in enumerate(rows):
        best = None
        if group == SYNTHETIC:
            twin = next((k for k in kept if keys[k] == keys[index]), None)
            options = [] if twin is None else [(rows[twin][0], 0, -1.0, twin)]
            for k in kept:
                common, union = len(sets[index] & sets[k]), len(sets[index] | sets[k])
                if k != twin and is_near_duplicate(common, union, config.threshold, config.max_difference):
                    options.append((rows[k][0], 2, -jaccard(sets[index], sets[k]), k))
            if options:
                group_of, rank, similarity, other = min(options)
                best = ("exact" if rank == 0 else "near", KINDS[group_of], other, round(-similarity, 4))
        found.append(best)
        if best is None:
            kept.append(index)
    return found


def _local(rows: Input, config: NearDuplicateConfig, extra: dict[int, Match] | None = None) -> Resolution:
    finder = NearDuplicateFinder(KINDS, config)
    for group in range(len(KINDS)):
        texts = [text for row_group, text in rows if row_group == group]
        if texts:
            finder.add(tokenise(texts), group)
    return finder.resolve(extra)


def _as_tuples(resolution: Resolution) -> list[tuple[str, str, int, float] | None]:
    return [None if m is None else (m.kind, m.group, m.index, m.similarity) for m in resolution.matches]


UNPRUNED = dataclasses.replace(CONFIG, reference_first=False)
INPUTS = {"lineages": lineages(), "lineages-2": lineages(seed=2, per_seed=30), "copies-and-chains": copies_and_chains()}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_pruning_changes_no_decision_and_checks_fewer_pairs(name: str) -> None:
    rows = INPUTS[name]
    pruned, full = _local(rows, CONFIG), _local(rows, UNPRUNED)
    assert pruned.matches == full.matches
    assert _as_tuples(pruned) == brute_force(rows, CONFIG)
    assert pruned.verified < full.verified and pruned.candidate_pairs == full.candidate_pairs
    reasons = {(m.kind, m.group) for m in pruned.matches if m is not None}
    assert {("near", "seed"), ("near", "eval"), ("near", "synthetic")} <= reasons


def test_the_chain_through_a_reference_matched_row_keeps_its_next_link() -> None:
    """a ~ seed, b ~ a, c ~ b: a is removed as near_seed, so it is never b's kept partner; b is kept and c
    goes as b's near-copy. The pair (a, b) is dropped unchecked, so b's decision cannot depend on it."""
    rows = copies_and_chains()
    resolution = _local(rows, CONFIG)
    first_synthetic = next(i for i, (group, _) in enumerate(rows) if group == SYNTHETIC)
    a, b, c = first_synthetic, first_synthetic + 1, first_synthetic + 2
    assert resolution.matches[a] == Match("near", "seed", 3, resolution.matches[a].similarity)
    assert resolution.matches[b] is None
    assert resolution.matches[c] is not None and resolution.matches[c].index == b
    copy = first_synthetic + 3  # the seed itself, then a second copy of a
    assert resolution.matches[copy] == Match("exact", "seed", 3, 1.0)
    assert resolution.matches[copy + 1] is not None and resolution.matches[copy + 1].group == "seed"


def test_rows_removed_by_ngram_decontamination_prune_their_pairs_too() -> None:
    """A row in `extra` is never kept: its synthetic pairs are dropped; decisions as without pruning."""
    rows = lineages(seed=3, per_seed=30)
    first = next(i for i, (group, _) in enumerate(rows) if group == SYNTHETIC)
    extra = {row: Match(NGRAM, "eval", 0, 0.5) for row in range(first, len(rows), 7)}
    pruned, full = _local(rows, CONFIG, extra), _local(rows, UNPRUNED, extra)
    assert pruned.matches == full.matches
    no_extra = _local(rows, CONFIG)
    assert pruned.verified < no_extra.verified  # the extra rows' own pairs are pruned as well


def _on_shards(rows: Input, config: NearDuplicateConfig, shard_rows: int, partitions: int) -> Resolution:
    """distributed.py's phases 1-4 in this process (the functions its Ray tasks call), without Ray."""
    signer, shards, entries, first = Signer(config.num_perm), [], [], 0
    for group in range(len(KINDS)):
        texts = [text for row_group, text in rows if row_group == group]
        for low in range(0, len(texts), shard_rows):
            shard, parts = sign_shard(tokenise(texts[low : low + shard_rows]), group, first, config, signer, partitions)
            shards.append(shard)
            entries.append(parts)
            first += len(shard)
    table = RowTable(shards)
    by_partition = [[parts[p] for parts in entries] for p in range(partitions)]
    neighbours = sum(int((part.key_sets == config.bands).sum()) for parts in entries for part in parts)
    counts = [run_size_counts(part, config.bands + 1) for part in by_partition]
    limits = pairing_limits(counts, [first] * config.bands + [neighbours], config)
    paired = [partition_pairs(part, limits, table, config, partitions) for part in by_partition]
    firsts = [reference_partition([out[1][q] for out in paired], table, 2, config) for q in range(partitions)]
    never_kept = never_kept_rows(np.concatenate([out[0].later for out in firsts]), np.zeros(0, dtype=np.int64))
    rest = [verify_partition(out[1], never_kept, table, config) for out in firsts]
    phases = _gathered(shards, _joined_pairs([out[0] for out in firsts] + rest, first), [o[0] for o in paired], first)
    return decide(KINDS, config, phases, None)


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_the_ray_phases_prune_exactly_like_one_machine(name: str) -> None:
    rows = INPUTS[name]
    local = _local(rows, CONFIG)
    for shard_rows, partitions in ((50, 3), (1000, 2)):
        spread = _on_shards(rows, CONFIG, shard_rows, partitions)
        assert spread.matches == local.matches
        assert (spread.candidate_pairs, spread.verified, spread.confirmed) == (
            local.candidate_pairs,
            local.verified,
            local.confirmed,
        )
    assert _on_shards(rows, UNPRUNED, 50, 3).verified == _local(rows, UNPRUNED).verified > local.verified


def _search(rows: Input, config: NearDuplicateConfig) -> DuplicateSearch:
    """The stage's pass 1 (search.search) with eval n-gram decontamination on, under `config`."""
    params = DedupParams(threshold=0.8, bands=32, rows_per_band=4, decontaminate_ngram=8, decontaminate_min_words=8)
    found = DuplicateSearch(params)
    found.finder.config = dataclasses.replace(found.finder.config, reference_first=config.reference_first)

    def rows_of(group: int) -> list[dict]:
        texts = [text for row_group, text in rows if row_group == group]
        return [{"id": f"{group}-{i}", "messages": [{"role": "user", "content": t}]} for i, t in enumerate(texts)]

    return search(rows_of(SYNTHETIC), rows_of(SEED), rows_of(EVAL), params, found=found)


def test_the_stage_search_with_decontamination_decides_alike() -> None:
    rows = lineages(seed=4, per_seed=30)
    evaluation = [text for group, text in rows if group == EVAL]
    rows += [(SYNTHETIC, f"first {text} and then some more words here") for text in evaluation]
    pruned, full = _search(rows, CONFIG), _search(rows, UNPRUNED)
    assert pruned.contaminated and pruned.resolution is not None and full.resolution is not None
    assert pruned.resolution.matches == full.resolution.matches
    assert pruned.metrics()["pairs_verified"] < full.metrics()["pairs_verified"]
