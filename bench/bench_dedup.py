"""Dedup benchmarks (issue 4): labelled near-duplicate accuracy, and speed and memory against naive datasketch.

    python -m bench.bench_dedup accuracy            precision/recall on BANKING77 at the params.yaml settings
    python -m bench.bench_dedup accuracy --sweep    ... and for a grid of thresholds and bandings
    python -m bench.bench_dedup throughput          100k rows of ~30 words: ours vs naive datasketch, one process
    python -m bench.bench_dedup scaling             100k and 1M rows, a fresh subprocess per size: time, peak memory
    python -m bench.bench_dedup stage               the whole stage (`python -m stages.dedup`) on JSONL files of
                                                    100k and 1M rows, against the seeds and eval split: time, peak RSS

BANKING77 is read in place from ../shared/data/banking77/ (or $BANKING77_DIR); without it every command
says so and exits 0. Runs are pinned to one CPU core.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from datasketch import MinHash, MinHashLSH

from bench.near_duplicate_corpus import LabelledCorpus, banking77_dir, build_corpus, load_banking77, stream_rows
from stages.core.errors import run_main
from stages.core.jsonl import read_jsonl, write_jsonl
from stages.core.params import load_section
from stages.core.rows import row_id
from stages.core.tally import batches
from stages.core.text import match_key
from stages.dedup.candidates import band_keys, candidate_pairs, candidate_probability, neighbour_keys
from stages.dedup.config import NearDuplicateConfig, small_set_limit
from stages.dedup.near_duplicates import NearDuplicateFinder
from stages.dedup.params import DedupParams
from stages.dedup.signatures import Signer, shingle_hash, shingle_sets, shingles, tokenise
from stages.dedup.stage import deduplicate
from stages.dedup.verification import is_near_duplicate

ROOT = Path(__file__).resolve().parents[1]


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def pipeline_params() -> DedupParams:
    return load_section(ROOT / "params.yaml", "dedup", DedupParams)


# --- accuracy --------------------------------------------------------------------------------------


def _scores(predicted: set[tuple[int, int]], corpus: LabelledCorpus) -> dict[str, Any]:
    positives = corpus.positive_pairs
    hits = predicted & positives
    by_bucket: dict[str, list[int]] = {}
    for pair in positives:
        by_bucket.setdefault(corpus.length_bucket(pair[0]), []).append(pair in predicted)
    return {
        "precision": round(len(hits) / len(predicted), 4) if predicted else 1.0,
        "recall": round(len(hits) / len(positives), 4),
        "false_positives": len(predicted - positives),
        "false_positives_sharing_a_template": sum(
            1 for a, b in predicted - positives if corpus.shapes[a] == corpus.shapes[b] == "template"
        ),
        "recall_by_length": {name: round(sum(v) / len(v), 4) for name, v in sorted(by_bucket.items())},
    }


def evaluate_pipeline(corpus: LabelledCorpus, params: DedupParams) -> dict[str, Any]:
    """The stage's own code path (`deduplicate` on JSONL files, greedy in row order): a removed row
    predicts the pair (row, duplicate_of)."""
    rows = [
        {"id": str(i), "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]}
        for i, text in enumerate(corpus.texts)
    ]
    settings = params.model_copy(update={"against_seeds": False, "decontaminate_eval": False})
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        write_jsonl(work / "rows.jsonl", rows)
        deduplicate(work / "rows.jsonl", work / "seeds.jsonl", work / "eval.jsonl", settings, work / "out")
        removed = read_jsonl(work / "out/removed.jsonl")
    predicted = {tuple(sorted((int(row["id"]), int(row["duplicate_of"])))) for row in removed}
    return _scores(predicted, corpus)  # type: ignore[arg-type]


def evaluate_pairs(corpus: LabelledCorpus, params: DedupParams) -> dict[str, Any]:
    """Order-free: every candidate pair (bands, neighbour keys) that passes verification is a predicted pair."""
    sets = shingle_sets(tokenise(corpus.texts), params.ngram)
    signatures = Signer(params.num_perm).signatures(sets)
    candidates = candidate_pairs(band_keys(signatures, params.bands, params.rows_per_band))
    # and, as the stage does, pairs of small sets sharing an exact neighbour key
    rows_with_key, keys = neighbour_keys(sets, small_set_limit(params.threshold, params.max_difference))
    holders: dict[int, list[int]] = {}
    for row, key in zip(rows_with_key.tolist(), keys.tolist(), strict=True):
        holders.setdefault(key, []).append(row)
    for members in holders.values():
        members = sorted(set(members))
        candidates.update((a, b) for index, a in enumerate(members) for b in members[index + 1 :])
    rows = [set(sets.row(i).tolist()) for i in range(len(sets))]
    predicted = set()
    for a, b in candidates:
        common = len(rows[a] & rows[b])
        if is_near_duplicate(common, len(rows[a]) + len(rows[b]) - common, params.threshold, params.max_difference):
            predicted.add((a, b))
    result = _scores(predicted, corpus)
    result["candidates_per_row"] = round(len(candidates) / len(corpus.texts), 2)
    return result


def accuracy(sweep: bool) -> None:
    directory = banking77_dir()
    if directory is None:
        print("BANKING77 not found (../shared/data/banking77/ or $BANKING77_DIR): skipping the accuracy benchmark")
        return
    corpus = build_corpus(load_banking77(directory))
    params = pipeline_params()
    print(
        f"corpus: {len(corpus.texts)} rows, {len(corpus.positive_pairs)} near-duplicate pairs (10% edits), "
        f"{len(corpus.template_pairs)} labelled distinct pairs sharing a template; all other pairs distinct"
    )
    print(f"settings (params.yaml dedup): {_describe(params)}")
    print("pipeline (greedy, row order):", json.dumps(evaluate_pipeline(corpus, params)))
    print("all verified pairs:          ", json.dumps(evaluate_pairs(corpus, params)))
    if not sweep:
        return
    print(
        "\n| threshold | max_difference | bands x rows | P(candidate) at threshold | precision | recall"
        " | recall 5-14 words | band candidates/row |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for threshold in (0.7, 0.75, 0.8, 0.85):
        for max_difference in (0, 2):
            for bands, rows_per_band in ((16, 8), (18, 7), (21, 6), (25, 5)):
                update = {"threshold": threshold, "max_difference": max_difference, "bands": bands}
                settings = params.model_copy(update={**update, "rows_per_band": rows_per_band})
                found = evaluate_pipeline(corpus, settings)
                pairs = evaluate_pairs(corpus, settings)
                print(
                    f"| {threshold} | {max_difference} | {bands} x {rows_per_band} | "
                    f"{candidate_probability(threshold, bands, rows_per_band):.3f} | {found['precision']:.4f} | "
                    f"{found['recall']:.4f} | {found['recall_by_length']['5-14 words']:.4f} | "
                    f"{pairs['candidates_per_row']} |"
                )


def _describe(params: DedupParams) -> str:
    return (
        f"word {params.ngram}-grams, Jaccard >= {params.threshold} or <= {params.max_difference} differing shingles, "
        f"{params.num_perm} perms, {params.bands} bands x {params.rows_per_band} rows"
    )


# --- throughput ------------------------------------------------------------------------------------


def run_ours(texts: Iterator[str], params: DedupParams) -> tuple[float, list[bool], dict[str, int]]:
    """Seconds spent in dedup (text generation not counted), the removed flag per row, and pair counts."""
    finder = NearDuplicateFinder(("rows",), NearDuplicateConfig.from_params(params))
    spent = 0.0
    for batch in batches(texts):  # type: ignore[arg-type]  # texts, batched as the stage batches rows
        start = time.perf_counter()
        finder.add(tokenise(batch), 0)
        spent += time.perf_counter() - start
    start = time.perf_counter()
    resolution = finder.resolve()
    spent += time.perf_counter() - start
    pairs = {
        "candidate_pairs": resolution.candidate_pairs,
        "pairs_verified": resolution.verified,
        "pairs_confirmed": resolution.confirmed,
    }
    return spent, [match is not None for match in resolution.matches], pairs


def run_naive(texts: list[str], params: DedupParams, compatible: bool = False) -> tuple[float, list[bool]]:
    """datasketch as the docs show it: MinHash() and update() per shingle, MinHashLSH query/insert, plus
    the same exact-key check and verification. `compatible` uses our hashfunc (to compare decisions)."""
    lsh = MinHashLSH(num_perm=params.num_perm, params=(params.bands, params.rows_per_band))
    kept_sets: dict[int, set[bytes]] = {}
    exact: dict[str, int] = {}
    removed = []
    start = time.perf_counter()
    for index, text in enumerate(texts):
        if compatible:
            sketch = MinHash(num_perm=params.num_perm, seed=1, hashfunc=shingle_hash, scheme="affine32")
        else:
            sketch = MinHash(num_perm=params.num_perm)
        own_shingles = shingles(text, params.ngram)
        for shingle in own_shingles:
            sketch.update(shingle)
        own = set(own_shingles)
        duplicate = match_key(text) in exact
        if not duplicate:
            for key in lsh.query(sketch):
                common = len(own & kept_sets[key])
                if is_near_duplicate(common, len(own) + len(kept_sets[key]) - common, params.threshold,
                                     params.max_difference):  # fmt: skip
                    duplicate = True
                    break
        removed.append(duplicate)
        if not duplicate:
            lsh.insert(index, sketch)
            kept_sets[index] = own
            exact[match_key(text)] = index
    return time.perf_counter() - start, removed


def throughput(rows: int, naive_rows: int) -> dict[str, Any]:
    directory = banking77_dir()
    if directory is None:
        print("BANKING77 not found: skipping the throughput benchmark")
        return {}
    pin_to_one_core()
    params = pipeline_params()
    examples = load_banking77(directory)
    sample = list(stream_rows(examples, naive_rows))
    naive_seconds, naive_removed = run_naive(sample, params)
    _, compatible_removed = run_naive(sample, params, compatible=True)
    ours_sample_seconds, ours_sample_removed, _ = run_ours(iter(sample), params)
    ours_seconds, ours_removed, _ = run_ours(stream_rows(examples, rows), params)
    words = sum(len(text.split()) for text in sample) / len(sample)
    result = {
        "settings": _describe(params),
        "mean_words_per_row": round(words, 1),
        "naive_rows": naive_rows,
        "naive_rows_per_s": round(naive_rows / naive_seconds),
        "ours_rows": rows,
        "ours_rows_per_s": round(rows / ours_seconds),
        "ours_same_sample_rows_per_s": round(naive_rows / ours_sample_seconds),
        "speedup_vs_naive": round((rows / ours_seconds) / (naive_rows / naive_seconds), 1),
        "removed_share": round(sum(ours_removed) / rows, 4),
        "same_decisions_as_datasketch_with_our_hashfunc": compatible_removed == ours_sample_removed,
        "naive_sha1_removed_on_sample": sum(naive_removed),
        "ours_removed_on_sample": sum(ours_sample_removed),
    }
    print(json.dumps(result, indent=2))
    return result


def measure_child(rows: int, trace: bool, vocabulary_block: int) -> None:
    """One size in this (fresh) process: seconds, peak memory and pair counts, printed as one JSON line."""
    pin_to_one_core()
    directory = banking77_dir()
    assert directory is not None
    params = pipeline_params()
    examples = load_banking77(directory)
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        tracemalloc.start()
    seconds, removed, pairs = run_ours(stream_rows(examples, rows, vocabulary_block=vocabulary_block), params)
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(peak_kb / 1024), "rss_before_run_mb": round(baseline_kb / 1024),
        "tracemalloc_peak_mb": round(traced_peak / 2**20) if traced_peak is not None else None,
        "removed_share": round(sum(removed) / rows, 4), **pairs,
        "stream": f"fresh vocabulary every {vocabulary_block:,} rows" if vocabulary_block else "reused queries",
    }))  # fmt: skip


def scaling(sizes: list[int], trace: bool) -> None:
    """Each size on both streams (see `stream_rows`): reused queries, where near-threshold pairs per row
    grow with the rows, and a fresh vocabulary every min(sizes) rows, where they do not. The ratio of
    each size's rows/s to the smallest size's, on the same stream, is the scaling."""
    if banking77_dir() is None:
        print("BANKING77 not found: skipping the scaling benchmark")
        return
    block = min(sizes)
    for vocabulary_block in (0, block):
        base: float | None = None
        for size in sorted(sizes):
            for traced in (False, True) if trace else (False,):
                command = [sys.executable, "-m", "bench.bench_dedup", "_child", "--rows", str(size)]
                command += ["--vocabulary-block", str(vocabulary_block)] + (["--tracemalloc"] if traced else [])
                done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                if traced:
                    result["note"] = "tracemalloc on: time not comparable"
                else:
                    base = base or result["rows_per_s"]
                    result["rows_per_s_vs_smallest"] = round(result["rows_per_s"] / base, 3)
                print(json.dumps(result))


def write_stage_input(path: Path, examples: list[tuple[str, str]], rows: int) -> None:
    """`rows` schema-valid synthetic rows (user turn from the throughput stream) as JSONL."""
    templates = ("casual_short", "formal_verbose", "frustrated", "lexical_swap", "noisy_typing", "situational")
    slices = ("cards", "billing", "transfers", "top_up", "fraud_security", "legal_compliance")
    with path.open("w") as handle:
        for index, text in enumerate(stream_rows(examples, rows)):
            provenance = {
                "generator": "bench", "generator_version": "1", "model": "none", "template_id": templates[index % 6],
                "template_hash": "h", "temperature": 0.7, "sampling_seed": index, "seed_ids": [f"seed{index % 997}"],
                "params_hash": "p",
            }  # fmt: skip
            row = {
                "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "We can help."}],
                "intent": "card_arrival", "slice": slices[index % 6], "source": "synthetic", "origin": "variation",
                "case_id": f"c{index % 997}", "seed_id": f"seed{index % 997}", "provenance": provenance, "meta": {},
            }  # fmt: skip
            row["id"] = row_id(row)
            handle.write(json.dumps(row) + "\n")


def stage(sizes: list[int]) -> None:
    """The dedup stage as users run it, in a subprocess per size: wall time and the child's peak RSS
    (os.wait4), streaming the input twice and writing kept/removed files. Needs data/seed/ (dvc repro)."""
    directory = banking77_dir()
    if directory is None:
        print("BANKING77 not found: skipping the stage benchmark")
        return
    seeds, eval_rows = ROOT / "data/seed/seeds.jsonl", ROOT / "data/seed/eval.jsonl"
    if not seeds.is_file():
        print("data/seed/ is missing: run `dvc repro seed` first")
        return
    examples = load_banking77(directory)
    for size in sorted(sizes):
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            write_stage_input(work / "rows.jsonl", examples, size)
            command = [
                *(sys.executable, "-m", "stages.dedup", "--rows", str(work / "rows.jsonl")),
                *("--seeds", str(seeds), "--eval", str(eval_rows)),
                *("--out", str(work / "out"), "--metrics", str(work / "metrics.json")),
            ]
            start = time.perf_counter()
            child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - start
            assert child.stdout is not None and status == 0, f"stages.dedup failed: {status}"
            print(json.dumps({
                "rows": size, "input_mb": round((work / "rows.jsonl").stat().st_size / 2**20),
                "seconds": round(seconds, 1), "rows_per_s": round(size / seconds),
                "peak_rss_mb": round(usage.ru_maxrss / 1024), "stage_says": child.stdout.read().strip(),
            }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_dedup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("command", choices=["accuracy", "throughput", "scaling", "stage", "_child"])
    parser.add_argument("--sweep", action="store_true", help="accuracy: also a grid of settings")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--naive-rows", type=int, default=5_000, help="throughput: naive datasketch subsample")
    parser.add_argument("--sizes", default="100000,1000000", help="scaling, stage: comma-separated row counts")
    parser.add_argument("--tracemalloc", action="store_true", help="scaling: also a run under tracemalloc per size")
    parser.add_argument("--vocabulary-block", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.command == "accuracy":
        accuracy(args.sweep)
    elif args.command == "throughput":
        throughput(args.rows, args.naive_rows)
    elif args.command == "scaling":
        scaling([int(size) for size in args.sizes.split(",")], args.tracemalloc)
    elif args.command == "stage":
        stage([int(size) for size in args.sizes.split(",")])
    else:
        measure_child(args.rows, args.tracemalloc, args.vocabulary_block)


if __name__ == "__main__":
    run_main(main)
