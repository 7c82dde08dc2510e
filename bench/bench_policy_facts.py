"""The policy_facts check on a domain's own seeds: expert replies kept, logged bad replies caught, and
figures swapped for another figure the policy states elsewhere ("within 7 days" where the rule says 21).

    python -m bench.bench_policy_facts [SEEDS_DIR ...]      # default: seeds/ and every examples/ domain

For each expert reply (cases, corrected failures, eval traffic) whose first money, percent or duration
figure has another value of the same unit in the policy, one copy with that figure swapped for a
seeded choice among them: the check should reject the copy, as the figure now belongs to another rule.
Baseline in the same process: the rule before issue 11, under which a figure passed when any policy
paragraph stating it shared one topic word with the reply.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from stages.core.domain import load_domain
from stages.core.errors import run_main
from stages.core.rows import assistant_text, user_text
from stages.filter.checks.policy_facts import PolicyChecker, action_claim_pattern
from stages.filter.figures import figures
from stages.filter.policy import PolicyFacts, topic_words

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


def main() -> None:
    """Print one table row per (domain, rule)."""
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
