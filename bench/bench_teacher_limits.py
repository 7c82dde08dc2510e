"""Teacher backend under rate limits (issue 12, item 9): the direct path against servers that say 429.

    python -m bench.bench_teacher_limits                both
    python -m bench.bench_teacher_limits window         16 workers against a 4 requests/s server
    python -m bench.bench_teacher_limits retry_after    16 workers, every 10th answer a 429 (retry-after 0.2 s)

window: tests/openai_server.py in its own process allows 4 requests per 1 s window. Once with the
allowance announced in OpenAI's x-ratelimit headers (429s without retry-after), once unannounced
(no headers; 429s carry only retry-after = the time to the window's reset), where only the
adaptive concurrency (AIMD) can help. Printed: 429s per request (each 429 costs one retry) and the
throughput against the allowance (4 requests/s).

retry_after: a 200 ms server, 16 workers (ideal 80 requests/s); every 10th request is answered with
a 429 and `retry-after: 0.2`. Printed: throughput against the same run on a server without 429s,
both in this process.

The client is the real generate path (bench.bench_teacher.run_generate: planning, the openai SDK
over HTTP, the cache, rows).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# ruff: noqa: E402  (imports after the sys.path line, for `python bench/bench_teacher_limits.py`)
from bench.bench_teacher import bench_params, make_seeds, run_generate
from stages.core.errors import run_main
from tests.openai_server import TEST_API_KEY


def start_server(*args: str) -> tuple[subprocess.Popen[str], str]:
    """tests/openai_server.py in its own process with `args`; (process, base URL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.openai_server", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    port = int(process.stdout.readline().split()[1])
    return process, f"http://127.0.0.1:{port}/v1"


def measure(server_args: list[str], requests: int, concurrency: int, max_retries: int = 10) -> tuple[float, int, int]:
    """(seconds, retries, requests answered) of one generate run against a fresh server."""
    process, base_url = start_server(*server_args)
    try:
        params = bench_params(base_url, concurrency, 1)
        params = params.model_copy(update={"openai": params.openai.model_copy(update={"max_retries": max_retries})})
        with tempfile.TemporaryDirectory() as tmp:
            result, seconds = run_generate(make_seeds(requests), params, Path(tmp) / "cache")
        return seconds, result.run["retries"], result.metrics["teacher"]["answered"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def window(requests: int) -> None:
    allowance = 4.0
    print(f"window: 16 workers, {requests} requests, a server allowing {allowance:.0f} requests per 1 s window")
    print("| server | seconds | answered | 429s | 429s per request | requests/s | vs allowance |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    cases = {
        "announced (x-ratelimit headers)": ["--requests-per-window", "4", "--window-s", "1"],
        "unannounced (retry-after only)": ["--requests-per-window", "4", "--window-s", "1", "--no-window-headers",
                                           "--window-retry-after"],
    }  # fmt: skip
    for name, server_args in cases.items():
        seconds, retries, answered = measure(server_args, requests, 16)
        rate = answered / seconds
        print(
            f"| {name} | {seconds:.1f} | {answered} | {retries} | {retries / requests:.2f} | {rate:.2f} |"
            f" {rate / allowance:.1%} |"
        )


def retry_after(requests: int) -> None:
    print(f"retry_after: 16 workers, {requests} requests, 200 ms server; every 10th request a 429 (retry-after 0.2)")
    print("| server | seconds | answered | 429s | requests/s | vs no 429s |")
    print("|---|---:|---:|---:|---:|---:|")
    base_seconds, _, base_answered = measure(["--latency", "0.2"], requests, 16)
    base_rate = base_answered / base_seconds
    print(f"| no 429s | {base_seconds:.1f} | {base_answered} | 0 | {base_rate:.1f} | 100.0% |")
    seconds, retries, answered = measure(["--latency", "0.2", "--fault-429-every", "10"], requests, 16)
    rate = answered / seconds
    print(f"| every 10th a 429 | {seconds:.1f} | {answered} | {retries} | {rate:.1f} | {rate / base_rate:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", nargs="?", choices=["window", "retry_after", "all"], default="all")
    parser.add_argument("--window-requests", type=int, default=60)
    parser.add_argument("--retry-requests", type=int, default=640)
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = TEST_API_KEY
    if args.which in ("window", "all"):
        window(args.window_requests)
    if args.which in ("retry_after", "all"):
        retry_after(args.retry_requests)


if __name__ == "__main__":
    run_main(main)
