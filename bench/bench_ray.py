"""Filter and dedup, local against Ray (issue 15): the stage commands on the same generated rows, in one run.

    python -m bench.bench_ray --rows 1000000 [--stages filter,dedup] [--workers 2] [--keep DIR]
                              [--executors local,ray]  (one of them alone: for runs too long to do
                                                       one after the other; compare the digests)
    python -m bench.bench_ray --variations 37,580      dedup (local) on built-in variations of the seeds:
                                                       CPU per row and candidate pairs per row as
                                                       variations per seed grow; then pass 1 with
                                                       reference-first pruning off (the baseline) and
                                                       on, in this process (lineage-first, README)

Rows: schema-valid synthetic rows, the user turn from the dedup throughput stream (2-3 BANKING77 queries,
20% edited copies, a fresh vocabulary every 100k rows so near-threshold pairs per row stay constant),
the reply, intent and slice of a seed row (cycled). Each stage runs as users run it
(`python -m stages.<stage>` in a subprocess): first PIPELINE_EXECUTOR=local, then PIPELINE_EXECUTOR=ray
against a `ray start --head` on 127.0.0.1 with --workers CPUs (bench/ray_cluster.py; its start-up is not
timed). Printed per run: wall seconds, the driver's CPU seconds and peak RSS (os.wait4), the cluster's CPU
seconds (the head's process tree, sampled from /proc every 0.2 s), CPU ms per 1,000 rows, and whether every
output file is byte-identical to the local run's; then Ray's wall time as a ratio of local's.
Needs data/seed/ (dvc repro seed), BANKING77 in ../shared/data/banking77/ and the [distributed] extra.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.near_duplicate_corpus import banking77_dir, load_banking77, stream_rows
from bench.ray_cluster import TreeCpu, ray_head
from stages.core.jsonl import read_jsonl
from stages.core.rows import row_id

ROOT = Path(__file__).resolve().parents[1]
SEEDS, EVAL = ROOT / "data/seed/seeds.jsonl", ROOT / "data/seed/eval.jsonl"
OUTPUTS = {"filter": ("kept.jsonl", "rejected.jsonl", "pairs.jsonl"), "dedup": ("kept.jsonl", "removed.jsonl")}


def write_rows(path: Path, rows: int) -> None:
    """`rows` synthetic rows as JSONL (see the module docstring), streamed: no row list in memory."""
    directory = banking77_dir()
    if directory is None:
        raise SystemExit("BANKING77 not found (../shared/data/banking77/ or $BANKING77_DIR)")
    seeds = read_jsonl(SEEDS)
    with path.open("w", encoding="utf-8") as handle:
        for index, text in enumerate(stream_rows(load_banking77(directory), rows, vocabulary_block=100_000)):
            seed = seeds[index % len(seeds)]
            provenance = {
                "generator": "bench", "generator_version": "1", "model": "none", "template_id": f"t{index % 6}",
                "template_hash": "h", "temperature": 0.7, "sampling_seed": index, "seed_ids": [seed["id"]],
                "params_hash": "p",
            }  # fmt: skip
            row = {
                "messages": [{"role": "user", "content": text}, seed["messages"][-1]],
                "intent": seed["intent"], "slice": seed["slice"], "source": "synthetic", "origin": "variation",
                "case_id": seed["case_id"], "seed_id": seed["id"], "provenance": provenance, "meta": {},
            }  # fmt: skip
            row["id"] = row_id(row)
            handle.write(json.dumps(row) + "\n")


def _command(stage: str, rows: Path, out: Path) -> list[str]:
    common = ["--rows", str(rows), "--out", str(out), "--metrics", str(out / "metrics.json")]
    if stage == "filter":
        extra = ["--seeds", str(SEEDS), "--policy", str(ROOT / "seeds/policy.md"), "--pairs", str(out / "none")]
    else:
        extra = ["--seeds", str(SEEDS), "--eval", str(EVAL)]
    return [sys.executable, "-m", f"stages.{stage}", *common, *extra]


def _digests(out: Path, stage: str) -> dict[str, str]:
    names = (*OUTPUTS[stage], "metrics.json")
    return {name: hashlib.md5((out / name).read_bytes()).hexdigest() for name in names}


def run_stage(stage: str, rows: Path, out: Path, env: dict[str, str], group: int | None) -> dict[str, Any]:
    """One stage run in a subprocess: times, CPU, peak RSS and output digests."""
    # The local run's CPU is the child's own (os.wait4): sampling /proc then would only load the machine.
    with TreeCpu(group) if group else contextlib.nullcontext() as cluster_cpu:
        start = time.perf_counter()
        child = subprocess.Popen(_command(stage, rows, out), cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
    assert child.stdout is not None and status == 0, f"stages.{stage} failed ({status})"
    cluster = cluster_cpu.seconds if cluster_cpu else 0.0
    driver = usage.ru_utime + usage.ru_stime
    count = sum(1 for _ in rows.open(encoding="utf-8"))
    return {
        "stage": stage, "executor": "ray" if group else "local", "rows": count, "wall_s": round(wall, 1),
        "driver_cpu_s": round(driver, 1), "cluster_cpu_s": round(cluster, 1),
        "cpu_ms_per_1k_rows": round((driver + cluster) * 1e6 / count, 1),
        "driver_peak_rss_mb": round(usage.ru_maxrss / 1024), "stage_says": child.stdout.read().strip(),
        "digests": _digests(out, stage),
    }  # fmt: skip


def _search_cpu(rows: Path, reference_first: bool) -> tuple[float, Any]:
    """Pass 1 of the dedup (search.search: signatures, candidates, verification, walk) on `rows` with the
    repository's params, reference-first pruning on or off: (CPU seconds of this process, the search)."""
    import dataclasses

    from stages.core.params import load_section
    from stages.dedup.params import DedupParams
    from stages.dedup.search import DuplicateSearch, search

    params = load_section(ROOT / "params.yaml", "dedup", DedupParams)
    found = DuplicateSearch(params)
    found.finder.config = dataclasses.replace(found.finder.config, reference_first=reference_first)
    streams = [(row for row in read_jsonl(path)) for path in (rows, SEEDS, EVAL)]
    start = time.process_time()
    search(*streams, params, found=found)
    return time.process_time() - start, found


def _pruning(rows: Path, total: int, repeats: int = 2) -> dict[str, Any]:
    """Reference-first pruning off (the baseline) and on, alternated `repeats` times in this process: the
    least CPU µs per row of pass 1 each, pairs per row, and whether every decision is the same."""
    cpu: dict[bool, list[float]] = {False: [], True: []}
    found: dict[bool, Any] = {}
    for _ in range(repeats):
        for reference_first in (False, True):
            seconds, found[reference_first] = _search_cpu(rows, reference_first)
            cpu[reference_first].append(seconds)
    figures: dict[str, Any] = {}
    for reference_first, name in ((False, "baseline"), (True, "reference_first")):
        metrics = found[reference_first].metrics()
        figures[name] = {
            "search_cpu_us_per_row": round(min(cpu[reference_first]) * 1e6 / total),
            "candidate_pairs_per_row": round(metrics["candidate_pairs"] / total, 2),
            "pairs_verified_per_row": round(metrics["pairs_verified"] / total, 2),
            "pairs_confirmed_per_row": round(metrics["pairs_confirmed"] / total, 2),
        }
    same = found[True].resolution.matches == found[False].resolution.matches
    ratio = round(min(cpu[True]) / min(cpu[False]), 3)
    return {**figures, "same_decisions": same, "search_cpu_vs_baseline": ratio}


def variations(counts: list[int]) -> None:
    """The dedup stage (local) on `generate_builtin` rows at each variations-per-seed count: rows, CPU
    seconds and µs per row of the whole process, peak RSS, and the search figures per row; then pass 1
    in this process with reference-first pruning off and on (`_pruning`)."""
    from stages.core.jsonl import write_jsonl
    from stages.generate.params import GenerateParams
    from stages.generate.stage import generate_builtin

    seeds = read_jsonl(SEEDS)
    for count in counts:
        with tempfile.TemporaryDirectory() as scratch:
            rows, out = Path(scratch) / "rows.jsonl", Path(scratch) / "out"
            total = write_jsonl(rows, generate_builtin(seeds, GenerateParams(variations_per_seed=count))[0])
            command = [*_command("dedup", rows, out)]
            child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            _, status, usage = os.wait4(child.pid, 0)
            assert status == 0, "stages.dedup failed"
            metrics = json.loads((out / "metrics.json").read_text())
            cpu = usage.ru_utime + usage.ru_stime
            print(json.dumps({
                "variations_per_seed": count, "rows": total, "cpu_s": round(cpu, 2),
                "cpu_us_per_row": round(cpu * 1e6 / total), "peak_rss_mb": usage.ru_maxrss // 1024,
                "candidate_pairs_per_row": round(metrics["search"]["candidate_pairs"] / total, 2),
                "pairs_verified_per_row": round(metrics["search"]["pairs_verified"] / total, 2),
                "confirmed_pairs_per_row": round(metrics["search"]["pairs_confirmed"] / total, 2),
                "by_reason": metrics["by_reason"],
            }), flush=True)  # fmt: skip
            print(json.dumps({"variations_per_seed": count, "pass_1": _pruning(rows, total)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_ray", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stages", default="filter,dedup")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="folder for the input (reused if there)")
    parser.add_argument("--executors", default="local,ray", help="which runs (comma-separated): local, ray")
    parser.add_argument("--variations", default=None, help="comma-separated variations per seed (see above)")
    args = parser.parse_args()
    if args.variations:
        variations([int(count) for count in args.variations.split(",")])
        return
    base = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    base = {key: value for key, value in base.items() if not key.startswith(("PIPELINE_", "RAY_"))}
    with tempfile.TemporaryDirectory(dir=args.keep) as scratch:
        work = Path(scratch)
        rows = (args.keep or work) / f"rows_{args.rows}.jsonl"
        if not rows.exists():
            start = time.perf_counter()
            write_rows(rows, args.rows)
            print(json.dumps({"input": str(rows), "seconds": round(time.perf_counter() - start, 1)}), flush=True)
        _compare(args, rows, work, base)


def _compare(args: argparse.Namespace, rows: Path, work: Path, base: dict[str, str]) -> None:
    """Each stage locally, then on a fresh Ray head; Ray's results compared with local's when both ran."""
    executors, stages = args.executors.split(","), args.stages.split(",")
    results = []
    if "local" in executors:
        for stage in stages:
            results.append(run_stage(stage, rows, work / f"{stage}-local", base, None))
            print(json.dumps(results[-1]), flush=True)
    if "ray" not in executors:
        return
    with ray_head(args.workers, base) as (env, group):
        env = {**env, "PIPELINE_WORKERS": str(args.workers)}
        for stage in stages:
            result = run_stage(stage, rows, work / f"{stage}-ray", env, group)
            local = next((r for r in results if r["stage"] == stage), None)
            if local:
                result["identical_to_local"] = result["digests"] == local["digests"]
                result["wall_vs_local"] = round(result["wall_s"] / local["wall_s"], 3)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
