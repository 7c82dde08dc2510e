"""Review stage memory (issue 15): peak RSS of `python -m stages.review` on many rows, this checkout against a baseline.

    python -m bench.bench_review --baseline ../main [--variations 580]

Rows: built-in variations of data/seed/seeds.jsonl (`variations_per_seed` = --variations; 580 gives
~136k rows), every one sent to review (no removed-rows files). Each checkout runs the stage in a
subprocess with its own venv's Python (<checkout>/.venv/bin/python) and params.yaml; printed: seconds,
peak RSS (os.wait4) and an md5 prefix of every output, which must agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from stages.core.errors import run_main
from stages.core.jsonl import read_jsonl, write_jsonl
from stages.generate.params import GenerateParams
from stages.generate.stage import generate_builtin

ROOT = Path(__file__).resolve().parents[1]


def run_review(checkout: Path, rows: Path, out: Path) -> dict[str, object]:
    """The review stage of `checkout` on `rows`: seconds, peak RSS, what it says, output digests."""
    python = checkout / ".venv/bin/python"
    command = [str(python), "-m", "stages.review", "--rows", str(rows), "--removed", "--out", str(out),
               "--metrics", str(out / "review.json")]  # fmt: skip
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=checkout, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    assert child.stdout is not None and status == 0, f"review failed in {checkout}"
    digests = {path.name: hashlib.md5(path.read_bytes()).hexdigest()[:8] for path in sorted(out.iterdir())}
    return {
        "checkout": str(checkout), "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": usage.ru_maxrss // 1024, "says": child.stdout.read().strip(), "digests": digests,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_review", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout of the code to compare with")
    parser.add_argument("--variations", type=int, default=580)
    args = parser.parse_args()
    seeds = read_jsonl(ROOT / "data/seed/seeds.jsonl")
    with tempfile.TemporaryDirectory() as scratch:
        rows = Path(scratch) / "rows.jsonl"
        write_jsonl(rows, generate_builtin(seeds, GenerateParams(variations_per_seed=args.variations))[0])
        results = [run_review(checkout.resolve(), rows, Path(scratch) / name)
                   for checkout, name in ((args.baseline, "baseline"), (ROOT, "this"))]  # fmt: skip
    for result in results:
        print(json.dumps(result))
    print(json.dumps({"identical_outputs": results[0]["digests"] == results[1]["digests"],
                      "peak_rss_ratio": round(results[1]["peak_rss_mb"] / results[0]["peak_rss_mb"], 3)}))  # fmt: skip


if __name__ == "__main__":
    run_main(main)
