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
    python -m bench.bench_filter checks --names a,b --baseline REV [--rows 20000]
                                                              each named check alone (as the stage builds
                                                              it), this checkout against its module at
                                                              git revision REV, alternated, in this
                                                              process; rows whose verdict differs
    python -m bench.bench_filter quality                      policy_facts on the seed replies; the intent
                                                              classifier's margin table (BANKING77 if present)
    python -m bench.bench_filter salad                        the word_salad check on real text (every turn of
                                                              seeds/ and examples/travel, BANKING77 if
                                                              present), the built-in variations and the fake
                                                              teacher's answers (tests/openai_server.py): the
                                                              longest clause without a function word, texts
                                                              rejected at filter.word_salad.min_words

Rows are built-in variations of data/seed/seeds.jsonl (run `python -m stages.seed` first). The run is
pinned to one CPU core. BANKING77 is read in place from ../shared/data/banking77/ (or $BANKING77_DIR).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import random
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_dedup import pin_to_one_core
from bench.near_duplicate_corpus import banking77_dir, load_banking77
from bench.revision import alternated, module_at
from stages.core.domain import load_domain
from stages.core.errors import run_main
from stages.core.jsonl import read_jsonl
from stages.core.params import load_section
from stages.core.rows import reason_code, user_text
from stages.filter.checks.base import CheckInputs, registered
from stages.filter.checks.intent import IntentClassifier
from stages.filter.checks.pii import PiiCheck, build_finder
from stages.filter.checks.policy_facts import PolicyFacts
from stages.filter.checks.salad import salad_clause
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


# stages/filter/checks/pii.py's classes that register a check: the baseline's copy is loaded without them
PII_CLASSES = frozenset({"PiiCheck", "PiiParams"})


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
        "baseline": PiiCheck(
            module_at(revision, "stages/filter/checks/pii.py", PII_CLASSES).build_finder(kinds, detectors)
        ),
        "this checkout": PiiCheck(build_finder(kinds, detectors)),
    }
    runs = {name: (lambda check=check: [check.check(row) for row in rows]) for name, check in checks.items()}
    summary = {"rows": len(rows), "baseline": revision, **alternated(runs, repeats, len(rows))}
    print(json.dumps(summary, indent=2, ensure_ascii=False))


def _verdicts(check: Any, rows: list[dict[str, Any]]) -> list[str | None]:
    """`check`'s verdict on each row, in the stage's batches."""
    return [verdict for low in range(0, len(rows), 4096) for verdict in check.check_batch(rows[low : low + 4096])]


def _baseline_check(revision: str, name: str) -> type:
    """The check class named `name` as its module was at git `revision` (stages/filter/checks/<name>.py).
    Loading it registers a second class of that name, so the registry is set aside meanwhile."""
    from stages.filter.checks import base

    saved = dict(base._REGISTRY)
    base._REGISTRY.clear()
    try:
        module = module_at(revision, f"stages/filter/checks/{name}.py")
    finally:
        base._REGISTRY.clear()
        base._REGISTRY.update(saved)
    return next(
        value
        for value in vars(module).values()
        if isinstance(value, type) and value.__dict__.get("name") == name and value.__module__ == module.__name__
    )


def checks(names: list[str], rows_wanted: int, revision: str, repeats: int = 5) -> None:
    """CPU seconds of each named check alone over the rows (check_batch in the stage's batches), built as
    the stage builds it from params.yaml and seeds/, this checkout's class against `revision`'s,
    alternated `repeats` times; the lower of each, their ratio and the rows whose verdicts differ."""
    pin_to_one_core()
    seeds = _seed_rows()
    rows, _ = generate_builtin(seeds, GenerateParams(variations_per_seed=-(-rows_wanted // len(seeds)) + 1))
    rows = rows[:rows_wanted]
    params = load_section(ROOT / "params.yaml", "filter", FilterParams)
    inputs = CheckInputs(ROOT / "seeds/blocklist.txt", ROOT / "seeds/policy.md", SEEDS)
    summary: dict[str, Any] = {"rows": len(rows), "baseline": revision}
    for name in names:
        current = registered()[name]
        built = {
            "baseline": _baseline_check(revision, name).build(getattr(params, name), inputs),
            "this checkout": current.build(getattr(params, name), inputs),
        }
        summary[name] = alternated(
            {label: partial(_verdicts, check, rows) for label, check in built.items()}, repeats, len(rows)
        )
    print(json.dumps(summary, indent=2))


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


def _human_texts(folder: Path, roles: tuple[str, ...] = ("user", "assistant")) -> list[str]:
    """Every turn of `roles` in the seed files of `folder` (cases, failures, eval traffic)."""
    return [
        message["content"]
        for path in sorted(folder.glob("*.jsonl"))
        for row in read_jsonl(path)
        for message in row.get("messages", [])
        if message["role"] in roles
    ]


def _longest_salad_clause(text: str) -> int:
    """Words in the longest clause of `text` with no function word (0: none)."""
    size = 1
    while salad_clause(text, size) is not None:
        size += 1
    return size - 1


def salad() -> None:
    """The word_salad check's false alarms on real text and the built-in generator's rows, and its catches
    on the fake teacher's salad (tests/openai_server.py)."""
    from tests.openai_server import reworded, word_salad

    min_words = load_section(ROOT / "params.yaml", "filter", FilterParams).word_salad.min_words
    sets = {"seeds/ (every turn)": _human_texts(ROOT / "seeds"),
            "examples/travel (every turn)": _human_texts(ROOT / "examples/travel")}  # fmt: skip
    directory = banking77_dir()
    if directory is not None:
        sets["BANKING77 queries (train + test)"] = [text for text, _ in load_banking77(directory)]
    else:
        print("BANKING77 not found: real text is the seeds and travel turns only")
    variations, _ = generate_builtin(_seed_rows(), GenerateParams(variations_per_seed=4))
    sets["built-in variations (every turn)"] = [m["content"] for row in variations for m in row["messages"]]
    customer = _human_texts(ROOT / "seeds", ("user",))
    rng = random.Random(0)
    sets["fake teacher, well-behaved (seeds/ user turns)"] = [reworded(text, rng) for text in customer]
    sets["fake teacher, word_salad fault (seeds/ user turns)"] = [word_salad(text, rng) for text in customer]
    print(f"filter.word_salad.min_words = {min_words}; texts whose longest clause without a function word has N+ words")
    sizes = range(3, 10)
    print("| texts | " + " | ".join(f"{n}+" for n in sizes) + " | rejected | share |")
    print("|---|" + "---:|" * (len(sizes) + 2))
    for label, texts in sets.items():
        longest = Counter(_longest_salad_clause(text) for text in texts)
        at_least = [sum(count for size, count in longest.items() if size >= n) for n in sizes]
        rejected = sum(count for size, count in longest.items() if size >= min_words)
        cells = " | ".join(str(count) for count in at_least)
        print(f"| {label} ({len(texts)}) | {cells} | {rejected} | {rejected / len(texts):.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_filter", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["throughput", "quality", "sharing", "pii", "checks", "salad"])
    parser.add_argument("--names", default="structure,meaning", help="checks: the checks to compare, comma-separated")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline", default="HEAD", help="pii, checks: the git revision to compare with")
    args = parser.parse_args()
    if args.command == "throughput":
        throughput(args.rows)
    elif args.command == "checks":
        checks(args.names.split(","), args.rows, args.baseline)
    elif args.command == "pii":
        pii(args.rows, args.baseline)
    elif args.command == "sharing":
        sharing(args.rows)
    elif args.command == "salad":
        salad()
    else:
        quality()


if __name__ == "__main__":
    run_main(main)
