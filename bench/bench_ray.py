"""Filter and dedup, local against Ray (issue 15): the stage commands on the same generated rows, in one run.

    python -m bench.bench_ray --rows 1000000 [--stages filter,dedup] [--workers 2] [--keep DIR]
                              [--executors local,ray]  (one of them alone: for runs too long to do
                                                       one after the other; compare the digests)
    python -m bench.bench_ray --variations 37,580      dedup (local) on built-in variations of the seeds:
                                                       CPU per row and candidate pairs per row as
                                                       variations per seed grow, the default and the
                                                       flat option (dedup.lineage_walk); then pass 1
                                                       with reference-first pruning off (the baseline),
                                                       on (the default), and the flat option, in this
                                                       process, with the flat option's decisions
                                                       against the default's (lineage-first, README);
                                                       --ray-check 2: the flat option also on a local
                                                       Ray with 2 CPUs, its outputs compared

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
from stages.core.errors import run_main
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


VARIANTS = ("baseline", "reference_first", "lineage_walk")  # pass 1: pruning off, the default, the flat option


def _search_cpu(rows: Path, variant: str) -> tuple[float, Any]:
    """Pass 1 of the dedup (search.search: signatures, candidates, verification, walk) on `rows` with the
    repository's params as `variant` (VARIANTS) has them: (CPU seconds of this process, the search)."""
    import dataclasses

    from stages.core.params import load_section
    from stages.dedup.params import DedupParams
    from stages.dedup.search import DuplicateSearch, search

    params = load_section(ROOT / "params.yaml", "dedup", DedupParams)
    params = params.model_copy(update={"lineage_walk": variant == "lineage_walk"})
    found = DuplicateSearch(params)
    found.finder.config = dataclasses.replace(found.finder.config, reference_first=variant != "baseline")
    streams = [(row for row in read_jsonl(path)) for path in (rows, SEEDS, EVAL)]
    start = time.process_time()
    search(*streams, params, found=found)
    return time.process_time() - start, found


def _differences(flat: list[Any], default: list[Any]) -> dict[str, int]:
    """How the flat option's matches (per row added) differ from the default's: rows removed by one only,
    rows removed by both but as another row's copy, rows removed by a reference (eval row, seed) in one only."""

    def by_reference(match: Any) -> bool:
        return match is not None and match.group != "synthetic"

    def same_match(one: Any, other: Any) -> bool:
        return (one.kind, one.group, one.index) == (other.kind, other.group, other.index)

    pairs = list(zip(flat, default, strict=True))
    return {
        "removed_by_flat_only": sum(f is not None and d is None for f, d in pairs),
        "kept_by_flat_only": sum(f is None and d is not None for f, d in pairs),
        "other_match": sum(f is not None and d is not None and not same_match(f, d) for f, d in pairs),
        "reference_decisions_differ": sum(by_reference(f) != by_reference(d) for f, d in pairs),
    }


def _pruning(rows: Path, total: int, repeats: int = 2) -> dict[str, Any]:
    """Pass 1 as each of VARIANTS, alternated `repeats` times in this process: the least CPU µs per row
    each, its ratio to the baseline's, pairs per row, kept rows; whether reference first decides as the
    baseline does, and how the flat option's decisions differ from the default's (`_differences`)."""
    cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    found: dict[str, Any] = {}
    for _ in range(repeats):
        for variant in VARIANTS:
            seconds, found[variant] = _search_cpu(rows, variant)
            cpu[variant].append(seconds)
    figures: dict[str, Any] = {}
    for variant in VARIANTS:
        metrics = found[variant].metrics()
        figures[variant] = {
            "search_cpu_us_per_row": round(min(cpu[variant]) * 1e6 / total),
            "search_cpu_vs_baseline": round(min(cpu[variant]) / min(cpu["baseline"]), 3),
            "candidate_pairs_per_row": round(metrics["candidate_pairs"] / total, 2),
            "pairs_verified_per_row": round(metrics["pairs_verified"] / total, 2),
            "pairs_confirmed_per_row": round(metrics["pairs_confirmed"] / total, 2),
            "kept_rows": sum(match is None for match in found[variant].resolution.matches[-total:]),
        }
    figures["lineage_walk"]["steps"] = found["lineage_walk"].metrics()["lineage_walk"]
    matches = {variant: found[variant].resolution.matches for variant in VARIANTS}
    same = matches["reference_first"] == matches["baseline"]
    differences = _differences(matches["lineage_walk"], matches["reference_first"])
    return {**figures, "same_decisions": same, "flat_vs_default": differences}


def variations(counts: list[int], ray_workers: int = 0) -> None:
    """The dedup stage (local) on `generate_builtin` rows at each variations-per-seed count, the default
    and the flat option: rows, CPU seconds and µs per row of the whole process, peak RSS, kept rows and
    the search figures per row (with `ray_workers`, the flat option again on a local Ray with that many
    CPUs, and whether its outputs are byte-identical); then pass 1 in this process as each of VARIANTS
    (`_pruning`)."""
    from stages.core.jsonl import write_jsonl
    from stages.generate.params import GenerateParams
    from stages.generate.stage import generate_builtin

    seeds = read_jsonl(SEEDS)
    for count in counts:
        with tempfile.TemporaryDirectory() as scratch:
            rows, out = Path(scratch) / "rows.jsonl", Path(scratch) / "out"
            total = write_jsonl(rows, generate_builtin(seeds, GenerateParams(variations_per_seed=count))[0])
            flat_params = Path(scratch) / "params.yaml"
            flat_params.write_text(
                (ROOT / "params.yaml").read_text().replace("lineage_walk: false", "lineage_walk: true")
            )
            runs = [("default", ROOT / "params.yaml", None), ("lineage_walk", flat_params, None)]
            if ray_workers:
                runs.append(("lineage_walk_on_ray", flat_params, {"PIPELINE_EXECUTOR": "ray",
                                                                  "PIPELINE_WORKERS": str(ray_workers)}))  # fmt: skip
            digests = {}
            for name, params, env in runs:
                out = Path(scratch) / name
                command = [*_command("dedup", rows, out), "--params", str(params)]
                digests[name] = _stage_figures(count, name, command, out, total, env)
            if ray_workers:
                same = digests["lineage_walk_on_ray"] == digests["lineage_walk"]
                print(json.dumps({"variations_per_seed": count, "ray_identical_to_local": same}), flush=True)
            print(json.dumps({"variations_per_seed": count, "pass_1": _pruning(rows, total)}), flush=True)


def _stage_figures(
    count: int, name: str, command: list[str], out: Path, total: int, env: dict[str, str] | None
) -> dict[str, str]:
    """One dedup stage run in a subprocess (`env` added to this process's environment, where PIPELINE_ and
    RAY_ variables are dropped): its CPU and peak RSS and the search figures per row; returns the md5 of
    every output."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(("PIPELINE_", "RAY_"))}
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**base, **(env or {})})
    _, status, usage = os.wait4(child.pid, 0)
    assert status == 0, "stages.dedup failed"
    metrics = json.loads((out / "metrics.json").read_text())
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps({
        "variations_per_seed": count, "stage": name, "rows": total, "cpu_s": round(cpu, 2),
        "cpu_us_per_row": round(cpu * 1e6 / total), "peak_rss_mb": usage.ru_maxrss // 1024,
        "kept": metrics["kept"],
        "candidate_pairs_per_row": round(metrics["search"]["candidate_pairs"] / total, 2),
        "pairs_verified_per_row": round(metrics["search"]["pairs_verified"] / total, 2),
        "confirmed_pairs_per_row": round(metrics["search"]["pairs_confirmed"] / total, 2),
        "by_reason": metrics["by_reason"],
    }), flush=True)  # fmt: skip
    return _digests(out, "dedup")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_ray", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stages", default="filter,dedup")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="folder for the input (reused if there)")
    parser.add_argument("--executors", default="local,ray", help="which runs (comma-separated): local, ray")
    parser.add_argument("--variations", default=None, help="comma-separated variations per seed (see above)")
    parser.add_argument("--ray-check", type=int, default=0, metavar="CPUS",
                        help="with --variations: also run the flat option on a local Ray with CPUS CPUs")  # fmt: skip
    args = parser.parse_args()
    if args.variations:
        variations([int(count) for count in args.variations.split(",")], args.ray_check)
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
    run_main(main)
