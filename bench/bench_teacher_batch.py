"""Teacher backend through the Batch API: 10,000 requests via the local Batch API server.

    python -m bench.bench_teacher_batch [--requests 10000]

tests/openai_server.py runs in its own process and serves /v1/files and /v1/batches (answering each
line at once, as a finished batch would). The client is the real generate path with
`batch: true` (bench.bench_teacher.run_generate): planning, one JSONL upload (`files.create`),
`batches.create`, polling, downloading the output file, matching by custom_id, cache appends, rows.
Printed: time to submit (build the lines, upload, create), time waiting for the server, time to
collect (download, parse, append to the cache), the whole run, and memory: this process's peak
RSS and the Python heap's peak (tracemalloc, a second run) against a baseline of the same plan
built without sending.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# ruff: noqa: E402  (imports after the sys.path line, for `python bench/bench_teacher_batch.py`)
from bench.bench_teacher import ROOT as REPO
from bench.bench_teacher import bench_params, make_seeds, run_generate
from bench.bench_teacher_limits import start_server
from stages.core.domain import load_domain
from stages.core.errors import run_main
from stages.generate.params import GenerateParams
from stages.generate.teacher.plan import plan_requests
from stages.generate.teacher.policy import PolicyIndex
from stages.generate.teacher.prompts import load_templates
from tests.openai_server import TEST_API_KEY


def batch_params(base_url: str, requests: int) -> GenerateParams:
    params = bench_params(base_url, 16, 4)
    batch = {"batch": True, "batch_poll_s": 0.2, "batch_poll_max_s": 1.0}
    return params.model_copy(update={"openai": params.openai.model_copy(update=batch)})


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = TEST_API_KEY
    seeds = make_seeds(args.requests // 4)
    process, base_url = start_server()
    try:
        params = batch_params(base_url, args.requests)
        started = time.perf_counter()
        templates = load_templates(
            params.openai, REPO / "prompts", Path("-"), load_domain(REPO / "seeds/domain.yaml").prompt_values()
        )
        policy = PolicyIndex((REPO / "seeds/policy.md").read_text(encoding="utf-8"))
        plan_requests(seeds, params, templates, policy, params.openai.endpoint_url())
        plan_s = time.perf_counter() - started
        plan_rss = rss_mib()
        with tempfile.TemporaryDirectory() as tmp:
            result, seconds = run_generate(seeds, params, Path(tmp) / "cache")
            size = sum(p.stat().st_size for p in (Path(tmp) / "cache").iterdir()) / 2**20
        run_rss = rss_mib()
        timing = result.run["batch_seconds"]
        assert result.metrics["teacher"]["answered"] == args.requests, result.metrics["teacher"]
        print(f"batch: {args.requests} requests in {len(result.run['batches'])} batch(es), cache {size:.1f} MiB")
        print("| phase | seconds |")
        print("|---|---:|")
        print(f"| planning only (baseline, no sending) | {plan_s:.2f} |")
        print(f"| submit: build lines, upload, create | {timing['submit']:.2f} |")
        print(f"| waiting for the server (polls) | {timing['waiting']:.2f} |")
        print(f"| collect: download, parse, cache appends | {timing['collect']:.2f} |")
        print(f"| whole generate run (plan, batch, rows, metrics) | {seconds:.2f} |")
        with tempfile.TemporaryDirectory() as tmp:
            tracemalloc.start()
            run_generate(seeds, params, Path(tmp) / "cache")
            _, heap_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        print(f"memory: peak RSS {run_rss:.0f} MiB after the run ({plan_rss:.0f} MiB after planning alone);"
              f" Python heap peak during a run {heap_peak / 2**20:.0f} MiB (tracemalloc)")  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    run_main(main)
