"""Filter benchmarks (issue 4): throughput with every check on, and what the judgement checks catch.

    python -m bench.bench_filter throughput [--rows 100000]   rows/s, all checks on, and each check's cost
    python -m bench.bench_filter sharing [--rows 20000]      the whole filter with the intent and answers
                                                              checks sharing one classifier (the stage)
                                                              against each its own (the baseline),
                                                              alternated, in this process
    python -m bench.bench_filter pii --baseline REV [--rows 100000]
                                                              the pii check's CPU per row, this checkout
                                                              against its code at git revision REV,
                                                              alternated, in this process; rows whose
                                                              verdict differs
    python -m bench.bench_filter quality                      policy_facts on the seed replies; the intent
                                                              classifier's margin table (BANKING77 if present)

Rows are built-in variations of data/seed/seeds.jsonl (run `python -m stages.seed` first). The run is
pinned to one CPU core. BANKING77 is read in place from ../shared/data/banking77/ (or $BANKING77_DIR).
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import json
import random
import subprocess
import sys
import time
import types
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_dedup import pin_to_one_core
from bench.near_duplicate_corpus import banking77_dir, load_banking77
from stages.core.domain import load_domain
from stages.core.errors import run_main
from stages.core.jsonl import read_jsonl
from stages.core.params import load_section
from stages.core.rows import reason_code, user_text
from stages.filter.checks.base import CheckInputs
from stages.filter.checks.intent import IntentClassifier
from stages.filter.checks.pii import PiiCheck, build_finder
from stages.filter.checks.policy_facts import PolicyFacts
from stages.filter.params import FilterParams
from stages.filter.runner import assemble_checks, filter_batches
from stages.generate.params import GenerateParams
from stages.generate.stage import generate_builtin

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "data/seed/seeds.jsonl"


def _seed_rows() -> list[dict[str, Any]]:
    if not SEEDS.exists():
        raise SystemExit(f"{SEEDS} not found: run `python -m stages.seed` (or `dvc repro seed`) first")
    return read_jsonl(SEEDS)


def throughput(rows_wanted: int) -> None:
    pin_to_one_core()
    seeds = _seed_rows()
    variations = -(-rows_wanted * 21 // (20 * len(seeds)))  # ~3% of variations come out unchanged and are dropped
    rows, _ = generate_builtin(seeds, GenerateParams(variations_per_seed=variations))
    rows = rows[:rows_wanted]
    params = load_section(ROOT / "params.yaml", "filter", FilterParams)
    start = time.perf_counter()
    check_set = assemble_checks(params, CheckInputs(ROOT / "seeds/blocklist.txt", ROOT / "seeds/policy.md", SEEDS))
    setup = time.perf_counter() - start
    start = time.perf_counter()
    codes: Counter[str] = Counter()
    rejected = 0
    for _, reasons in filter_batches(rows, check_set.checks):
        rejected += bool(reasons)
        codes.update({reason_code(reason) for reason in reasons})
    total = time.perf_counter() - start
    per_check = {}
    for check in check_set.checks:  # each check alone over every row, to see where the time goes
        start = time.perf_counter()
        for low in range(0, len(rows), 4096):
            check.check_batch(rows[low : low + 4096])
        per_check[check.name] = round(len(rows) / (time.perf_counter() - start))
    print(
        json.dumps(
            {
                "rows": len(rows),
                "checks": check_set.names(),
                "setup_seconds (policy + classifier training)": round(setup, 2),
                "seconds": round(total, 2),
                "rows_per_s": round(len(rows) / total),
                "rejected": rejected,
                "rejected_by_code": dict(sorted(codes.items())),
                "rows_per_s_each_check_alone": per_check,
            },
            indent=2,
        )
    )


def _filter_seconds(rows: list[dict[str, Any]], checks: list[Any]) -> float:
    start = time.process_time()
    for _ in filter_batches(rows, checks):
        pass
    return time.process_time() - start


def sharing(rows_wanted: int, repeats: int = 3) -> None:
    """CPU seconds of the whole filter, baseline (the answers check with its own copy of the classifier,
    as before it was shared) against the stage's checks, alternated `repeats` times; the lower of each."""
    pin_to_one_core()
    seeds = _seed_rows()
    rows, _ = generate_builtin(seeds, GenerateParams(variations_per_seed=-(-rows_wanted // len(seeds)) + 1))
    rows = rows[:rows_wanted]
    params = load_section(ROOT / "params.yaml", "filter", FilterParams)
    shared = assemble_checks(params, CheckInputs(ROOT / "seeds/blocklist.txt", ROOT / "seeds/policy.md", SEEDS)).checks
    own = [
        dataclasses.replace(check, classifier=copy.copy(check.classifier)) if check.name == "answers" else check
        for check in shared
    ]
    assert [check.name for check in shared].count("answers") == 1, "the answers check is off in params.yaml"
    times: dict[str, list[float]] = {"baseline (own classifier each)": [], "shared classifier": []}
    for _ in range(repeats):
        times["baseline (own classifier each)"].append(_filter_seconds(rows, own))
        times["shared classifier"].append(_filter_seconds(rows, shared))
    best = {name: min(seconds) for name, seconds in times.items()}
    ratio = best["shared classifier"] / best["baseline (own classifier each)"]
    print(json.dumps({"rows": len(rows), "cpu_seconds": times, "shared / baseline": round(ratio, 3)}, indent=2))


def _baseline_pii(revision: str) -> types.ModuleType:
    """stages/filter/checks/pii.py as it was at git `revision`, as a module, without its check and params
    classes (a second check named pii cannot be registered): its finders, PiiFinder and build_finder."""
    source = subprocess.run(
        ["git", "show", f"{revision}:stages/filter/checks/pii.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    tree = ast.parse(source)
    tree.body = [
        node for node in tree.body if not (isinstance(node, ast.ClassDef) and node.name in {"PiiCheck", "PiiParams"})
    ]
    module = types.ModuleType("baseline_pii")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(tree, f"{revision}:stages/filter/checks/pii.py", "exec"), module.__dict__)
    return module


def pii(rows_wanted: int, revision: str, repeats: int = 5) -> None:
    """CPU seconds of the pii check over the rows (user and assistant text of each, as the stage runs it),
    with this checkout's finder and with the baseline's (`revision`), alternated `repeats` times; the lower
    of each, their ratio, and the rows on which the two give different verdicts."""
    pin_to_one_core()
    seeds = _seed_rows()
    rows, _ = generate_builtin(seeds, GenerateParams(variations_per_seed=-(-rows_wanted // len(seeds)) + 1))
    rows = rows[:rows_wanted]
    kinds, detectors = (
        load_section(ROOT / "params.yaml", "filter", FilterParams).pii.kinds,
        load_domain(ROOT / "seeds/domain.yaml").pii,
    )
    checks = {
        "baseline": PiiCheck(_baseline_pii(revision).build_finder(kinds, detectors)),
        "this checkout": PiiCheck(build_finder(kinds, detectors)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in checks}
    verdicts: dict[str, list[str | None]] = {}
    for _ in range(repeats):
        for name, check in checks.items():
            start = time.process_time()
            verdicts[name] = [check.check(row) for row in rows]
            seconds[name].append(time.process_time() - start)
    best = {name: min(values) for name, values in seconds.items()}
    differ = [i for i, (a, b) in enumerate(zip(verdicts["baseline"], verdicts["this checkout"], strict=True)) if a != b]
    summary = {
        "rows": len(rows),
        "baseline": revision,
        "cpu_seconds": seconds,
        "rows_per_s": {name: round(len(rows) / value) for name, value in best.items()},
        "this checkout / baseline (CPU)": round(best["this checkout"] / best["baseline"], 3),
        "rejected": {name: sum(v is not None for v in values) for name, values in verdicts.items()},
        "rows with another verdict": len(differ),
        "first of them": [(verdicts["baseline"][i], verdicts["this checkout"][i]) for i in differ[:5]],
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))


def quality() -> None:
    seeds = _seed_rows()
    facts = PolicyFacts.from_file(ROOT / "seeds/policy.md")
    expert = flagged = 0
    for name in ("cases.jsonl", "failures.jsonl", "eval_traffic.jsonl"):
        for row in read_jsonl(ROOT / "seeds" / name):
            customer = "\n".join(m["content"] for m in row["messages"] if m["role"] == "user")
            for message in row["messages"]:
                if message["role"] == "assistant":
                    expert += 1
                    flagged += facts.problem(message["content"], customer, True, True) is not None
    failures = read_jsonl(ROOT / "seeds/failures.jsonl")
    caught = Counter(f["failure_mode"] for f in failures if facts.problem(f["failed_reply"], "", True, True))
    modes = Counter(f["failure_mode"] for f in failures)
    by_mode = ", ".join(f"{mode} {caught[mode]}/{count}" for mode, count in modes.items())
    print(f"policy_facts: expert replies rejected {flagged} of {expert}; logged bad replies caught")
    print(f"  {sum(caught.values())} of {len(failures)}: {by_mode}")

    params = load_section(ROOT / "params.yaml", "filter", FilterParams)
    classifier = IntentClassifier.train(seeds, params.intent)
    assert classifier is not None
    intents = classifier.intents
    rng = random.Random(0)
    variations, _ = generate_builtin(seeds, GenerateParams(variations_per_seed=4))
    sets = {"built-in variations": ([user_text(r) for r in variations], [r["intent"] for r in variations])}
    directory = banking77_dir()
    if directory is not None:
        real = [(text, intent) for text, intent in load_banking77(directory) if intent in intents]
        sets["BANKING77 queries of the 18 intents"] = ([t for t, _ in real], [i for _, i in real])
    else:
        print("BANKING77 not found: the classifier table covers built-in variations only")
    print(f"intent classifier: trained on {classifier.training_rows} seed rows, {len(intents)} intents")
    print("| rows | margin | rejected, right label | caught, wrong label |")
    print("|---|---|---|---|")
    for label, (texts, labels) in sets.items():
        probabilities = classifier.probabilities(texts)
        column = {intent: index for index, intent in enumerate(intents)}
        right = np.array([column[i] for i in labels])
        wrong = np.array([column[rng.choice([i for i in intents if i != label_])] for label_ in labels])
        top = probabilities.max(axis=1)
        for margin in (0.2, 0.3, 0.4, 0.5):
            false_rejects = (top - probabilities[np.arange(len(texts)), right] >= margin).mean()
            catches = (top - probabilities[np.arange(len(texts)), wrong] >= margin).mean()
            print(f"| {label} ({len(texts)}) | {margin} | {false_rejects:.3f} | {catches:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_filter", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["throughput", "quality", "sharing", "pii"])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline", default="HEAD", help="pii: the git revision to compare with")
    args = parser.parse_args()
    if args.command == "throughput":
        throughput(args.rows)
    elif args.command == "pii":
        pii(args.rows, args.baseline)
    elif args.command == "sharing":
        sharing(args.rows)
    else:
        quality()


if __name__ == "__main__":
    run_main(main)
