"""Teacher backend benchmarks (issue 3): throughput against latency, and the fully cached rerun.

    python -m bench.bench_teacher                 both
    python -m bench.bench_teacher throughput      rows/s at concurrency 1, 8, 32, 64 vs the ideal
    python -m bench.bench_teacher cached          a fully cached rerun of 10k rows: time per 1000 rows

throughput: tests/openai_server.py runs in its own process (so it does not share this process's
GIL) and answers every request after a fixed latency (default 200 ms). The client is the real
generate path (`generate_with_teacher`: planning, the openai SDK over HTTP, the cache, parsing,
rows), with the repository's prompts and policy excerpts, so requests have their real size. The
ideal is concurrency / latency rows per second; the goal is >= 90% of it at concurrency 64.

cached: the cache is filled with one answer per planned request (written directly, no server),
then the generate path runs with the cache full; no request may be sent. Timed: planning, keys,
reading the cache, parsing answers, building rows and writing the three output files.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# ruff: noqa: E402  (imports after the sys.path line, for `python bench/bench_teacher.py`)
from stages.core.domain import load_domain
from stages.core.errors import run_main
from stages.core.jsonl import write_jsonl
from stages.core.rows import row_id
from stages.generate.params import GenerateParams
from stages.generate.teacher.cache import ResponseCache, cache_entry
from stages.generate.teacher.plan import plan_requests
from stages.generate.teacher.policy import PolicyIndex
from stages.generate.teacher.prompts import load_templates
from stages.generate.teacher.run import TeacherPaths, TeacherResult, generate_with_teacher
from tests.openai_server import TEST_API_KEY, answer, completion

CONCURRENCY = (1, 8, 32, 64)
SECONDS_PER_LEVEL = 8.0  # requests per level = concurrency x this / latency: long enough that start and end are noise


def make_seeds(count: int) -> list[dict[str, Any]]:
    """Distinct two-turn seed rows, as the seed stage writes them."""
    seeds = []
    for index in range(count):
        row: dict[str, Any] = {
            "messages": [
                {"role": "user", "content": f"My card from order {index} has not arrived yet, what should I do?"},
                {"role": "assistant", "content": "Cards arrive in 3 to 5 working days; check Card > Card delivery."},
            ],
            "intent": "card_arrival",
            "slice": "cards",
            "source": "human",
            "origin": "case",
            "case_id": f"bench-{index:05d}",
            "seed_id": "",
            "provenance": None,
            "meta": {"policy_refs": ["1.1"], "pair": False},
        }
        row["id"] = row["seed_id"] = row_id(row)
        seeds.append(row)
    return seeds


def bench_params(base_url: str, concurrency: int, variations: int) -> GenerateParams:
    return GenerateParams.model_validate(
        {
            "backend": "openai",
            "seed": 1,
            "variations_per_seed": variations,
            "openai": {
                "base_url": base_url,
                "generators": [
                    {"model": "bench-a", "template": "variation_rephrase", "weight": 2},
                    {"model": "bench-b", "template": "variation_persona"},
                ],
                "pair_generators": [],
                "concurrency": concurrency,
                "rpm_limit": None,  # the fake server has no limits: measure the client, not the pacing
                "tpm_limit": None,
                "max_cost_usd": None,
                "timeout_s": 30,
                "prices": {
                    base_url: {
                        name: {
                            "input_per_1m": 0.15,
                            "output_per_1m": 0.6,
                            "batch_input_per_1m": 0.075,
                            "batch_output_per_1m": 0.3,
                        }
                        for name in ("bench-a", "bench-b")
                    }
                },
            },
        }
    )


def run_generate(seeds: list[dict[str, Any]], params: GenerateParams, cache: Path) -> tuple[TeacherResult, float]:
    paths = TeacherPaths(
        prompts=ROOT / "prompts",
        policy=ROOT / "seeds/policy.md",
        cache=cache,
        params=Path("-"),
        domain=ROOT / "seeds/domain.yaml",
    )
    started = time.perf_counter()
    result = generate_with_teacher(seeds, params, paths, progress_stream=io.StringIO())
    return result, time.perf_counter() - started


def throughput(latency: float) -> None:
    import os

    os.environ["OPENAI_API_KEY"] = TEST_API_KEY
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.openai_server", "--latency", str(latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        base_url = f"http://127.0.0.1:{port}/v1"
        print(f"throughput: fake server with {latency * 1000:.0f} ms latency, real prompts (policy excerpts)")
        print("| concurrency | requests | seconds | rows/s | ideal rows/s | ratio |")
        print("|---:|---:|---:|---:|---:|---:|")
        with tempfile.TemporaryDirectory() as tmp:
            run_generate(make_seeds(8), bench_params(base_url, 8, 1), Path(tmp) / "warmup")  # imports, connections
            for concurrency in CONCURRENCY:
                count = max(20, round(concurrency * SECONDS_PER_LEVEL / latency))
                params = bench_params(base_url, concurrency, 1)
                result, seconds = run_generate(make_seeds(count), params, Path(tmp) / f"c{concurrency}")
                sent = result.run["requests_sent"]
                assert sent == count and len(result.rows) == count, (sent, len(result.rows))
                rate, ideal = count / seconds, concurrency / latency
                print(f"| {concurrency} | {count} | {seconds:.2f} | {rate:.1f} | {ideal:.1f} | {rate / ideal:.1%} |")
    finally:
        server.terminate()
        server.wait(timeout=10)


def fill_cache(seeds: list[dict[str, Any]], params: GenerateParams, cache: Path) -> int:
    templates = load_templates(
        params.openai, ROOT / "prompts", Path("-"), load_domain(ROOT / "seeds/domain.yaml").prompt_values()
    )
    policy = PolicyIndex((ROOT / "seeds/policy.md").read_text(encoding="utf-8"))
    endpoint = params.openai.endpoint_url()
    variations, _ = plan_requests(seeds, params, templates, policy, endpoint)
    with ResponseCache(cache) as store:
        for request in variations:
            content, finish = answer(request.body_for("json_schema"), None)
            body = completion(request.body, content, finish)
            response = {
                "content": content,
                "refusal": None,
                "finish_reason": finish,
                "model": body["model"],
                "system_fingerprint": body["system_fingerprint"],
                "created": body["created"],
                "usage": {key: body["usage"][key] for key in ("prompt_tokens", "completion_tokens")},
            }
            store.append(cache_entry(request, response, endpoint, "json_schema"))
    return len(variations)


def cached(rows: int, repeats: int) -> None:
    variations = 4
    seeds = make_seeds(rows // variations)
    params = bench_params("http://127.0.0.1:9/v1", 64, variations)  # nothing listens there: nothing may be sent
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        filled = fill_cache(seeds, params, cache)
        size = sum(p.stat().st_size for p in cache.iterdir())
        print(f"cached: {filled} rows, cache {size / 2**20:.1f} MiB in {len(list(cache.iterdir()))} shard(s)")
        print("| run | seconds | ms per 1000 rows |")
        print("|---|---:|---:|")
        for repeat in range(1, repeats + 1):
            started = time.perf_counter()
            result, _ = run_generate(seeds, params, cache)
            for name, items in (("rows", result.rows), ("rejected", result.rejected), ("pairs", result.pairs)):
                write_jsonl(Path(tmp) / f"{name}.jsonl", items)
            seconds = time.perf_counter() - started
            assert result.run["requests_sent"] == 0 and result.run["cache_hits"] == filled == len(result.rows)
            print(f"| {repeat} | {seconds:.3f} | {seconds / filled * 1000 * 1000:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", nargs="?", choices=["throughput", "cached", "all"], default="all")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.which in ("throughput", "all"):
        throughput(args.latency)
    if args.which in ("cached", "all"):
        cached(args.rows, args.repeats)


if __name__ == "__main__":
    run_main(main)
