"""The policy_facts check on a domain's own seeds: expert replies kept, logged bad replies caught, and
figures swapped for another figure the policy states elsewhere ("within 7 days" where the rule says 21).

    python -m bench.bench_policy_facts [SEEDS_DIR ...]      # default: seeds/ and every examples/ domain
    python -m bench.bench_policy_facts speed --baseline REV [--rows N]
        CPU of the check over N built-in variations of data/seed/seeds.jsonl (run `python -m stages.seed`
        first), this checkout's check (stages/filter/figures.py, policy.py, checks/policy_facts.py) against
        the same three files at git revision REV, alternated in this process on one core, every run with
        cold caches (figures and sentences are cached per text, as the filter reads each row once); rows
        whose verdict differs

For each expert reply (cases, corrected failures, eval traffic) whose first money, percent or duration
figure has another value of the same unit in the policy, one copy with that figure swapped for a
seeded choice among them: the check should reject the copy, as the figure now belongs to another rule.
Baseline in the same process: the rule before issue 11, under which a figure passed when any policy
paragraph stating it shared one topic word with the reply.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.bench_dedup import pin_to_one_core
from bench.revision import alternated, module_at
from stages.core.domain import load_domain
from stages.core.errors import run_main
from stages.core.jsonl import read_jsonl
from stages.core.rows import assistant_text, user_text
from stages.filter import figures as figures_module
from stages.filter import policy as policy_module
from stages.filter.checks import policy_facts as check_module
from stages.filter.checks.policy_facts import PolicyChecker, action_claim_pattern
from stages.filter.figures import figures
from stages.filter.policy import PolicyFacts, topic_words
from stages.generate.params import GenerateParams
from stages.generate.stage import generate_builtin

ROOT = Path(__file__).resolve().parents[1]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def swapped_copies(experts: list[dict], policy: str, seed: int = 0) -> list[tuple[str, str, frozenset[str]]]:
    """(reply with one figure swapped, customer text, policy_refs) per expert row that has a swappable figure."""
    stated: dict[str, dict[tuple, str]] = {}
    for figure, written in figures(policy):
        if len(figure) == 2 and figure[0] != "":
            stated.setdefault(str(figure[0]), {}).setdefault(figure, written)
    rng = random.Random(seed)
    copies = []
    for row in experts:
        reply = assistant_text(row)
        for figure, written in figures(reply):
            others = [f for f in stated.get(str(figure[0]), {}) if f != figure] if len(figure) == 2 else []
            if others:
                swapped = reply.replace(written, stated[str(figure[0])][rng.choice(others)], 1)
                copies.append((swapped, user_text(row), frozenset(row.get("policy_refs") or ())))
                break
    return copies


def baseline_problem(facts: PolicyFacts, checker: PolicyChecker, reply: str, customer: str) -> str | None:
    """The rule before issue 11: a figure passes if any unit stating it shares a topic word with the reply."""
    problem = checker.problem(reply, customer, context=False, action_claims=True)
    if problem:
        return problem
    words = topic_words(reply)
    for figure, written in figures(reply):
        if figure in facts.stating and not any(facts.units[i].topics & words for i in facts.stating[figure]):
            return f"{written!r} is in the policy only for other topics"
    return None


def measure(seeds: Path) -> dict[str, str]:
    """The three figures for the check and for the baseline rule, on one domain folder."""
    policy = (seeds / "policy.md").read_text(encoding="utf-8")
    facts = PolicyFacts.from_text(policy)
    checker = PolicyChecker(facts, action_claim_pattern(tuple(load_domain(seeds / "domain.yaml").action_claims)))
    experts = [row for name in ("cases.jsonl", "failures.jsonl", "eval_traffic.jsonl") for row in _rows(seeds / name)]
    failures = _rows(seeds / "failures.jsonl")
    copies = swapped_copies(experts, policy)
    rules = {
        "section topic (issue 11)": lambda reply, customer, refs: checker.problem(reply, customer, True, True, refs),
        "any shared word (before)": lambda reply, customer, refs: baseline_problem(facts, checker, reply, customer),
    }
    result = {}
    for name, problem in rules.items():
        kept = sum(
            1
            for r in experts
            if problem(assistant_text(r), user_text(r), frozenset(r.get("policy_refs") or ())) is None
        )
        caught = sum(1 for r in failures if problem(r["failed_reply"], user_text(r), frozenset()))
        swapped = sum(1 for reply, customer, refs in copies if problem(reply, customer, refs))
        result[name] = f"{kept}/{len(experts)} | {caught}/{len(failures)} | {swapped}/{len(copies)}"
    return result


def _problems(checker: Any, caches: list[Any], work: list[tuple[str, str, frozenset[str]]]) -> list[str | None]:
    for cached in caches:  # every run from cold caches, as one pass of the filter over new rows
        cached.cache_clear()
    return [checker.problem(reply, customer, True, True, refs) for reply, customer, refs in work]


def _caches(*modules: ModuleType) -> list[Any]:
    """The lru_cache'd functions of `modules` (figures, sentences, stems...)."""
    return [value for module in modules for value in vars(module).values() if hasattr(value, "cache_clear")]


def _baseline_check(revision: str) -> tuple[ModuleType, ...]:
    """figures.py, policy.py and checks/policy_facts.py at `revision`, each importing the others at it."""
    figures_then = module_at(revision, "stages/filter/figures.py")
    policy_then = module_at(revision, "stages/filter/policy.py", imports={"stages.filter.figures": figures_then})
    check_then = module_at(
        revision,
        "stages/filter/checks/policy_facts.py",
        drop_classes=frozenset({"PolicyFactsCheck", "PolicyFactsParams"}),  # the check registers itself
        imports={"stages.filter.figures": figures_then, "stages.filter.policy": policy_then},
    )
    return figures_then, policy_then, check_then


def speed(rows_wanted: int, revision: str, repeats: int = 5) -> None:
    """CPU seconds of the check (context and action claims on, as the pipeline runs it) on the rows'
    replies, this checkout's and `revision`'s, alternated: once with each row's `policy_refs` (a figure of
    a named rule passes before any scoring) and once without (a domain whose seeds name no rules: every
    figure scored)."""
    pin_to_one_core()
    seeds = read_jsonl(ROOT / "data/seed/seeds.jsonl")
    rows, _ = generate_builtin(seeds, GenerateParams(variations_per_seed=-(-rows_wanted // len(seeds)) + 1))
    work = [
        (assistant_text(row), user_text(row), frozenset((row.get("meta") or {}).get("policy_refs") or ()))
        for row in rows[:rows_wanted]
    ]
    policy = (ROOT / "seeds/policy.md").read_text(encoding="utf-8")
    claims = action_claim_pattern(tuple(load_domain(ROOT / "seeds/domain.yaml").action_claims))
    figures_then, policy_then, check_then = _baseline_check(revision)
    checkers = {
        "baseline": (
            check_then.PolicyChecker(policy_then.PolicyFacts.from_text(policy), claims),
            _caches(figures_then, policy_then, check_then),
        ),
        "this checkout": (
            PolicyChecker(PolicyFacts.from_text(policy), claims),
            _caches(figures_module, policy_module, check_module),
        ),
    }
    summary = {"rows": len(work), "policy units": len(checkers["baseline"][0].facts.units), "baseline": revision}
    without = [(reply, customer, frozenset()) for reply, customer, _ in work]
    for label, rows in (("with policy_refs", work), ("without policy_refs", without)):
        runs = {name: partial(_problems, checker, caches, rows) for name, (checker, caches) in checkers.items()}
        summary[label] = alternated(runs, repeats, len(rows))
    print(json.dumps(summary, indent=2))


def main() -> None:
    """Print one table row per (domain, rule), or run `speed` (module docstring)."""
    if sys.argv[1:2] == ["speed"]:
        parser = argparse.ArgumentParser(prog="python -m bench.bench_policy_facts speed")
        parser.add_argument("--baseline", default="HEAD", help="the git revision to compare with")
        parser.add_argument("--rows", type=int, default=20_000)
        args = parser.parse_args(sys.argv[2:])
        speed(args.rows, args.baseline)
        return
    folders = [Path(arg) for arg in sys.argv[1:]] or [
        ROOT / "seeds",
        *sorted(p for p in (ROOT / "examples").glob("*/") if (p / "domain.yaml").exists()),
    ]
    print("| domain | rule | expert replies kept | logged bad replies caught | swapped figures caught |")
    print("|---|---|---|---|---|")
    for folder in folders:
        product = load_domain(folder / "domain.yaml").product
        for rule, figures_text in measure(folder).items():
            print(f"| {product} | {rule} | {figures_text} |")


if __name__ == "__main__":
    run_main(main)
