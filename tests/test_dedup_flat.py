"""Dedup's flat option (params dedup.lineage_walk, stages/dedup/flat.py): references first, each lineage
alone, then the global search on the survivors.

The engine is compared with a brute-force implementation of the option's own semantics (every row against
every reference, then against every kept row of its lineage, then against every kept survivor) on lineages
with branches, rows near eval rows and seeds, exact copies, chains inside a lineage and across lineages,
rows without a lineage and rows removed by n-gram decontamination. Also: its reference decisions are the
default's, row for row; the one documented difference from the default; that with the option off nothing
reads the lineages; that the Ray path's functions (shuffle.py, distributed_lineage.py) give the same
Resolution in one process; and that pairs verified per row stay flat as variations per seed grow while the
default's grow (counts from metrics, never timings).
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from stages.core.jsonl import read_jsonl
from stages.core.text import jaccard
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.distributed import _gathered, _joined_pairs
from stages.dedup.flat import WITHIN_LINEAGE, combined, lineage_rows, reference_matches, removed_rows, survivor_rows
from stages.dedup.lineage import NO_LINEAGE, LineageOutcome, lineage_of
from stages.dedup.near_duplicates import NGRAM, Match, NearDuplicateFinder, Resolution, decide
from stages.dedup.params import DedupParams
from stages.dedup.search import KINDS, search
from stages.dedup.shuffle import (
    RowTable,
    lineage_partition,
    pairing_limits,
    partition_pairs,
    reference_pairs_partition,
    reference_partition,
    run_size_counts,
    sign_shard,
    verify_pairs_partition,
    verify_partition,
)
from stages.dedup.signatures import Signer, exact_key, shingle_set, tokenise
from stages.dedup.stage import deduplicate
from stages.dedup.verification import is_near_duplicate
from tests.conftest import write_lines
from tests.test_dedup_lineage import brute_force as default_brute_force

VOCABULARY = [f"w{i}" for i in range(400)]
DEFAULT = NearDuplicateConfig(ngram=1, num_perm=128, bands=32, rows_per_band=4, threshold=0.8, max_difference=2)
FLAT = dataclasses.replace(DEFAULT, lineage_walk=True)
EVAL, SEED, SYNTHETIC = range(3)
Input = list[tuple[int, str, int]]  # (group, text, lineage) in the order added; NO_LINEAGE for references
Found = tuple[str, str, int, float, str | None] | None  # (kind, group, matched row, similarity, detail)


def _edited(text: str, rng: random.Random, edits: int) -> str:
    tokens = text.split()
    for _ in range(edits):
        tokens[rng.randrange(len(tokens))] = rng.choice(VOCABULARY)
    return " ".join(tokens)


def _texts(rng: random.Random, count: int, low: int = 14, high: int = 24) -> list[str]:
    return [" ".join(rng.sample(VOCABULARY, rng.randint(low, high))) for _ in range(count)]


def lineages(seed: int = 1, per_seed: int = 40, seeds: int = 8) -> Input:
    """`seeds` seeds with `per_seed` variations each: a variation is its seed or one of 3 branches (5 words
    replaced) with 0-3 words replaced; 4 eval rows with 6 variations each, put in random lineages; some
    rows that copy another lineage's branch (found only by the global pass); 10 rows without a lineage."""
    rng = random.Random(seed)
    evaluation, seed_texts = _texts(rng, 4), _texts(rng, seeds)
    rows: list[tuple[str, int]] = []
    branches = []
    for lineage, text in enumerate(seed_texts):
        origins = [text, *(_edited(text, rng, 5) for _ in range(3))]
        branches.append(origins[1:])
        rows += [(_edited(rng.choice(origins), rng, rng.choice([0, 1, 2, 3])), lineage) for _ in range(per_seed)]
    rows += [(_edited(text, rng, rng.choice([1, 2, 5])), rng.randrange(seeds)) for text in evaluation for _ in range(6)]
    rows += [(_edited(rng.choice(branches[(n + 1) % seeds]), rng, 1), n) for n in range(seeds) for _ in range(3)]
    rows += [(_edited(rng.choice(seed_texts + evaluation), rng, 2), NO_LINEAGE) for _ in range(5)]
    rows += [(text, NO_LINEAGE) for text in _texts(rng, 5)]
    rng.shuffle(rows)
    return _with_references(evaluation, seed_texts, rows)


def _with_references(evaluation: list[str], seeds: list[str], rows: list[tuple[str, int]]) -> Input:
    return (
        [(EVAL, t, NO_LINEAGE) for t in evaluation]
        + [(SEED, t, NO_LINEAGE) for t in seeds]
        + [(SYNTHETIC, text, lineage) for text, lineage in rows]
    )


def chains() -> Input:
    """22-word texts, 2 words replaced per step (Jaccard 0.83 to the next step, 0.69 two steps apart).
    Lineage 0: x, y ~ x, z ~ y (z not ~ x): y goes within the lineage, z stays. Across lineages: t
    (lineage 1), s ~ t (lineage 0), r ~ s, r not ~ t (lineage 0): the lineage walk removes r (by s), the
    global pass removes s (by t), so r stays removed, where the default keeps it. Also a row near a seed
    and its sibling (reported near_seed), exact copies of a seed, an eval row and a sibling, and a row
    with the same words as an eval row in another lineage."""
    rng = random.Random(9)
    evaluation, seeds = (
        [" ".join(rng.sample(VOCABULARY, 22)) for _ in range(2)],
        [" ".join(rng.sample(VOCABULARY, 22)) for _ in range(2)],
    )

    def steps(text: str, tag: str) -> list[str]:
        words, found = text.split(), []
        for step in range(3):
            words[2 * step : 2 * step + 2] = [f"{tag}{step}a", f"{tag}{step}b"]
            found.append(" ".join(words))
        return found

    x, y, z = steps(" ".join(rng.sample(VOCABULARY, 22)), "c")
    t, s, r = steps(" ".join(rng.sample(VOCABULARY, 22)), "d")
    near_seed = steps(seeds[0], "e")[0]
    shuffled_eval = " ".join(reversed(evaluation[1].split()))  # the same words: an exact Jaccard of 1
    rows = [(x, 0), (t, 1), (y, 0), (s, 0), (z, 0), (r, 0), (near_seed, 0), (_edited(near_seed, rng, 1), 0),
            (seeds[1], 1), (evaluation[0], 0), (x, 0), (x, 1), (shuffled_eval, 1)]  # fmt: skip
    return _with_references(evaluation, seeds, rows)


def brute_force(rows: Input, config: NearDuplicateConfig, extra: dict[int, Match] | None = None) -> list[Found]:
    """The flat option by definition: each synthetic row against every reference (the best by group, exact
    before near, most similar, earliest; a row of `extra` keeps that match unless its best is an exact copy
    of a row of an earlier or equal group); the others, in row order, against every earlier kept row of
    their lineage; the rows kept so (and rows without a lineage) against every earlier kept such row."""
    sets = [shingle_set(text, config.ngram) for _, text, _ in rows]
    keys = [exact_key(text) for _, text, _ in rows]
    extra = extra or {}

    def best(index: int, others: list[int]) -> tuple[int, int, float, int] | None:
        twin = next((k for k in others if keys[k] == keys[index]), None)
        options = [] if twin is None else [(rows[twin][0], 0, -1.0, twin)]
        for k in others:
            common, union = len(sets[index] & sets[k]), len(sets[index] | sets[k])
            if k != twin and is_near_duplicate(common, union, config.threshold, config.max_difference):
                options.append((rows[k][0], 2, -jaccard(sets[index], sets[k]), k))
        return min(options) if options else None

    def as_found(chosen: tuple[int, int, float, int], detail: str | None) -> Found:
        group, rank, negative, other = chosen
        return ("exact" if rank == 0 else "near", KINDS[group], other, round(-negative, 4), detail)

    references = [i for i, (group, _, _) in enumerate(rows) if group != SYNTHETIC]
    found: list[Found] = [None] * len(rows)
    synthetic = [i for i, (group, _, _) in enumerate(rows) if group == SYNTHETIC]
    for index in synthetic:
        chosen = best(index, references)
        if index in extra and not (chosen and chosen[1] == 0 and chosen[0] <= KINDS.index(extra[index].group)):
            match = extra[index]
            found[index] = (match.kind, match.group, match.index, match.similarity, None)
        elif chosen is not None:
            found[index] = as_found(chosen, None)
    kept_in: dict[int, list[int]] = defaultdict(list)
    for index in (i for i in synthetic if found[i] is None and rows[i][2] != NO_LINEAGE):
        chosen = best(index, kept_in[rows[index][2]])
        if chosen is None:
            kept_in[rows[index][2]].append(index)
        else:
            found[index] = as_found(chosen, WITHIN_LINEAGE)
    kept: list[int] = []
    for index in (i for i in synthetic if found[i] is None):
        chosen = best(index, kept)
        if chosen is None:
            kept.append(index)
        else:
            found[index] = as_found(chosen, None)
    return found


def _local(rows: Input, config: NearDuplicateConfig, extra: dict[int, Match] | None = None) -> Resolution:
    finder = NearDuplicateFinder(KINDS, config)
    for group in range(len(KINDS)):
        chosen = [(text, lineage) for row_group, text, lineage in rows if row_group == group]
        if chosen:
            finder.add(tokenise([text for text, _ in chosen]), group, np.array([n for _, n in chosen], dtype=np.int64))
    return finder.resolve(extra)


def _as_found(resolution: Resolution) -> list[Found]:
    return [None if m is None else (m.kind, m.group, m.index, m.similarity, m.detail) for m in resolution.matches]


INPUTS = {
    "lineages": lineages(),
    "lineages-2": lineages(seed=2, per_seed=25, seeds=12),
    "chains": chains(),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_the_flat_option_decides_like_its_brute_force(name: str) -> None:
    rows = INPUTS[name]
    resolution = _local(rows, FLAT)
    assert _as_found(resolution) == brute_force(rows, FLAT)
    reasons = {m.reason for m in resolution.matches if m is not None}
    assert {"near_seed", f"near_synthetic: {WITHIN_LINEAGE}", f"exact_synthetic: {WITHIN_LINEAGE}"} <= reasons
    assert "near_synthetic" in reasons  # across lineages: found by the global pass
    figures = resolution.lineage_walk
    assert figures is not None and figures["removed_within_lineages"] > 0 and figures["survivors"] > 0


def test_rows_removed_by_ngram_decontamination_are_decided_as_by_default() -> None:
    """Every 7th row is taken as removed by n-gram decontamination, and three more: an exact copy of an eval
    row (reported exact_eval: exact beats n-gram), of a seed (ngram_eval: the eval group ranks first) and
    a near-copy of an eval row (ngram_eval: n-gram beats near)."""
    rows = lineages(seed=3, per_seed=30)
    evaluation, seed = rows[0][1], rows[5][1]
    rows += [(SYNTHETIC, evaluation, 1), (SYNTHETIC, seed, 1), (SYNTHETIC, _edited(evaluation, random.Random(3), 1), 2)]
    first = next(i for i, (group, _, _) in enumerate(rows) if group == SYNTHETIC)
    extra = {
        row: Match(NGRAM, "eval", 0, 0.5) for row in [*range(first, len(rows) - 3, 7), *range(len(rows) - 3, len(rows))]
    }
    flat, default = _local(rows, FLAT, extra), _local(rows, DEFAULT, extra)
    assert _as_found(flat) == brute_force(rows, FLAT, extra)
    assert all(flat.matches[row] == default.matches[row] for row in extra)
    assert [flat.matches[row].reason for row in range(len(rows) - 3, len(rows))] == [
        "exact_eval",
        "ngram_eval",
        "ngram_eval",
    ]


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_reference_decisions_are_the_defaults_row_for_row(name: str) -> None:
    """Every row the default removes as a copy of an eval row or a seed, the flat option removes with the
    same match, and no other: eval contamination counts are the same."""
    rows = INPUTS[name]
    flat, default = _local(rows, FLAT), _local(rows, DEFAULT)

    def by_reference(resolution: Resolution) -> dict[int, Match]:
        return {i: m for i, m in enumerate(resolution.matches) if m is not None and m.group != "synthetic"}

    assert by_reference(flat) == by_reference(default) and any(m.group == "eval" for m in by_reference(flat).values())


def test_the_documented_difference_a_sibling_removed_later_still_removes() -> None:
    rows = chains()
    first = next(i for i, (group, _, _) in enumerate(rows) if group == SYNTHETIC)
    t, s, r = first + 1, first + 3, first + 5
    flat, default = _local(rows, FLAT), _local(rows, DEFAULT)
    assert flat.matches[s] == default.matches[s] and flat.matches[s].index == t  # s ~ t, across lineages
    assert flat.matches[r] is not None and flat.matches[r].index == s and flat.matches[r].detail == WITHIN_LINEAGE
    assert default.matches[r] is None  # the default never saw s kept, and r is not near t
    x, y, z = first, first + 2, first + 4
    assert flat.matches[x] is None and flat.matches[y].index == x and flat.matches[z] is None


def test_with_the_option_off_the_lineages_are_never_read() -> None:
    rows = INPUTS["lineages"]
    finder = NearDuplicateFinder(KINDS, DEFAULT)
    for group in range(len(KINDS)):
        texts = [text for row_group, text, _ in rows if row_group == group]
        finder.add(tokenise(texts), group, np.full(len(texts), 7, dtype=np.int64))  # ignored
    resolution = finder.resolve()
    assert resolution.lineage_walk is None and all(m is None or m.detail is None for m in resolution.matches)
    assert [None if m is None else (m.kind, m.group, m.index, m.similarity) for m in resolution.matches] == (
        default_brute_force([(group, text) for group, text, _ in rows], DEFAULT)
    )


def _on_shards(rows: Input, config: NearDuplicateConfig, shard_rows: int, partitions: int) -> Resolution:
    """distributed_lineage.resolve_flat_on_ray in this process: the functions its Ray tasks call, without Ray."""
    signer, shards, entries, first = Signer(config.num_perm), [], [], 0
    for group in range(len(KINDS)):
        texts = [text for row_group, text, _ in rows if row_group == group]
        for low in range(0, len(texts), shard_rows):
            shard, parts = sign_shard(tokenise(texts[low : low + shard_rows]), group, first, config, signer, partitions)
            shards.append(shard)
            entries.append(parts)
            first += len(shard)
    table, lineages = RowTable(shards), np.array([lineage for _, _, lineage in rows], dtype=np.int64)
    by_partition = [[parts[p] for parts in entries] for p in range(partitions)]
    split = [reference_pairs_partition(part, table, 2, config, partitions) for part in by_partition]
    pairs = _joined_pairs(
        [verify_pairs_partition([out[q] for out in split], table, config) for q in range(partitions)], first
    )
    groups, exact_keys = table.take("groups", np.arange(first)), table.take("exact_keys", np.arange(first))
    reference = reference_matches(pairs, groups, exact_keys, KINDS, {})
    walk = lineage_rows(groups, lineages, removed_rows(reference), 2)
    walked = LineageOutcome.merged(
        [lineage_partition(walk[lineages[walk] % partitions == p], lineages[walk[lineages[walk] % partitions == p]],
                           table, config) for p in range(partitions)]
    )  # fmt: skip
    survivors = survivor_rows(groups, removed_rows(reference, walked), 2)
    neighbours = sum(
        int(((part.key_sets == config.bands) & np.isin(part.rows, survivors)).sum())
        for parts in entries
        for part in parts
    )
    counts = [run_size_counts(part, config.bands + 1, survivors) for part in by_partition]
    limits = pairing_limits(counts, [len(survivors)] * config.bands + [neighbours], config)
    paired = [partition_pairs(part, limits, table, config, partitions, survivors) for part in by_partition]
    firsts = [reference_partition([out[1][q] for out in paired], table, 2, config) for q in range(partitions)]
    rest = [verify_partition(out[1], np.zeros(0, dtype=np.int64), table, config) for out in firsts]
    phases = _gathered(shards, _joined_pairs([out[0] for out in firsts] + rest, first), [o[0] for o in paired], first)
    return combined(KINDS, (reference, pairs), walked, decide(KINDS, config, phases, None), len(survivors))


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_the_ray_steps_decide_and_count_like_one_machine(name: str) -> None:
    rows = INPUTS[name]
    local = _local(rows, FLAT)
    for shard_rows, partitions in ((40, 3), (1000, 2)):
        spread = _on_shards(rows, FLAT, shard_rows, partitions)
        assert spread.matches == local.matches and spread.lineage_walk == local.lineage_walk
        assert (spread.candidate_pairs, spread.verified, spread.confirmed) == (
            local.candidate_pairs,
            local.verified,
            local.confirmed,
        )


def _variation_rows(per_seed: int, seeds: int = 6) -> tuple[list[dict], list[dict]]:
    """Rows as the stage reads them: `seeds` seeds of 22 words, each with 4 branches (6 words replaced: not
    near the seed nor each other), and `per_seed` variations, a branch with 0 or 1 word replaced."""
    rng = random.Random(per_seed)

    def row(text: str, number: int, seed_id: str) -> dict:
        return {"id": f"r{number}", "seed_id": seed_id, "messages": [{"role": "user", "content": text}]}

    seed_texts = [" ".join(rng.sample(VOCABULARY, 22)) for _ in range(seeds)]
    seed_rows = [row(text, 10**6 + n, f"s{n}") for n, text in enumerate(seed_texts)]
    rows = []
    for n, text in enumerate(seed_texts):
        branches = [_edited(text, rng, 6) for _ in range(4)]
        rows += [
            row(_edited(rng.choice(branches), rng, rng.choice([0, 1])), len(rows), f"s{n}") for _ in range(per_seed)
        ]
    rng.shuffle(rows)
    return rows, seed_rows


def test_pairs_verified_per_row_stay_flat_as_variations_per_seed_grow() -> None:
    """The stage's pass 1 (search.search, the shipped near-duplicate params) at 20 and 200 variations per
    seed: the default's pairs verified per row grow with the variations (siblings of one branch are each
    other's candidates), the flat option's do not (a row meets its branch's one kept row; the few more at 200
    are early rows of a lineage, which meet fewer kept rows, weighing less)."""
    per_row: dict[tuple[bool, int], float] = {}
    for lineage_walk in (False, True):
        params = DedupParams(lineage_walk=lineage_walk, decontaminate_eval=False)
        for per_seed in (20, 200):
            rows, seeds = _variation_rows(per_seed)
            metrics = search(rows, seeds, [], params).metrics()
            per_row[lineage_walk, per_seed] = metrics["pairs_verified"] / len(rows)
            if lineage_walk:
                walked = metrics["lineage_walk"]
                assert walked["rows_walked"] == len(rows) and walked["survivors"] <= 6 * 4 * 2
    assert per_row[False, 200] > 5 * per_row[False, 20]
    assert per_row[True, 200] <= 1.5 * per_row[True, 20] and per_row[True, 200] < per_row[False, 200] / 10


def test_the_stage_writes_within_lineage_reasons_and_lineage_figures(tmp_path: Path) -> None:
    rows, seeds = _variation_rows(10)
    rows[3]["provenance"] = {"seed_ids": [rows[3].pop("seed_id"), "donor"]}  # no seed_id: the first of seed_ids
    assert lineage_of(rows[3]) == lineage_of({"seed_id": rows[3]["provenance"]["seed_ids"][0]})
    write_lines(tmp_path / "rows.jsonl", rows)
    write_lines(tmp_path / "seeds.jsonl", seeds)
    write_lines(tmp_path / "eval.jsonl", [])
    paths = (tmp_path / "rows.jsonl", tmp_path / "seeds.jsonl", tmp_path / "eval.jsonl")
    default = deduplicate(*paths, DedupParams(), tmp_path / "default")
    flat = deduplicate(*paths, DedupParams(lineage_walk=True), tmp_path / "flat")
    assert "lineage_walk" not in default["search"] and flat["search"]["lineage_walk"]["lineages"] == 6
    reasons = [row["reasons"] for row in read_jsonl(tmp_path / "flat/removed.jsonl")]
    assert [f"near_synthetic: {WITHIN_LINEAGE}"] in reasons
    assert not any(":" in reason for row in read_jsonl(tmp_path / "default/removed.jsonl") for reason in row["reasons"])
    assert flat["by_reason"]["near_synthetic"] == sum(r == [f"near_synthetic: {WITHIN_LINEAGE}"] for r in reasons)
