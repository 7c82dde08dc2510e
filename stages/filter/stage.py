"""Stage filter: quality checks on synthetic rows; every rejected row is kept with all its reasons.

Checks (switched and tuned in params `filter`; one unit each in stages/common/checks.py):
  schema, length, blocklist    the row schema, character limits, blocked phrases (seeds/blocklist.txt)
  pii                          e-mails, phone numbers, Luhn-valid card numbers, valid IBANs
  refusal, ai_boilerplate      replies that decline to help; "as an AI", model names, prompt leftovers
  language, repetition         English in Latin script with clean characters; loops and template leftovers
  policy_facts                 figures and account-action claims that seeds/policy.md does not support
  intent                       user text that reads as another intent than its label (a classifier
                               trained on the human seed rows of data/seed/seeds.jsonl)
Runs standalone on any JSONL of rows. Explicit --policy/--seeds files must exist; if the default ones
are missing, the checks that need them are skipped (said on stderr and in the metrics).
Outputs: data/filter/kept.jsonl, data/filter/rejected.jsonl, metrics/filter.json (per check, per slice
and per template rejection counts and rates).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from stages.core.jsonl import atomic_open, dumps_row, iter_jsonl, read_jsonl, write_json, write_jsonl
from stages.core.params import load_section
from stages.core.rows import reason_code
from stages.core.tally import share
from stages.filter.checks import Check, CheckSet, assemble_checks, check_of, run_checks_batch
from stages.filter.checks.policy_facts import PolicyFacts
from stages.filter.params import FilterParams

BATCH_ROWS = 4096
Row = dict[str, Any]


def filter_batches(rows: Iterable[Row], checks: list[tuple[str, Check]]) -> Iterator[tuple[Row, list[str]]]:
    """(row, reasons) for every row in order; batches let the intent classifier score many rows at once."""
    iterator = iter(rows)
    while batch := list(islice(iterator, BATCH_ROWS)):
        yield from zip(batch, run_checks_batch(batch, checks), strict=True)


def filter_rows(rows: list[Row], checks: list[tuple[str, Check]]) -> tuple[list[Row], list[Row]]:
    kept, rejected = [], []
    for row, reasons in filter_batches(rows, checks):
        if reasons:
            rejected.append({**row, "reasons": reasons})
        else:
            kept.append(row)
    return kept, rejected


class FilterTally:
    """Rejections per reason code and per check, overall and per slice and template."""

    def __init__(self) -> None:
        self.rows = 0
        self.rejected = 0
        self.by_reason: Counter[str] = Counter()
        self.by_check: Counter[str] = Counter()
        self.only_check: Counter[str] = Counter()
        self.groups: dict[str, defaultdict[str, Counter[str]]] = {
            "slices": defaultdict(Counter),
            "templates": defaultdict(Counter),
        }

    def add(self, row: Row, reasons: list[str]) -> None:
        codes = sorted({reason_code(reason) for reason in reasons})
        checks = sorted({check_of(code) for code in codes})
        self.rows += 1
        self.rejected += bool(codes)
        self.by_reason.update(codes)
        self.by_check.update(checks)
        if len(checks) == 1:
            self.only_check[checks[0]] += 1
        for group, key in (("slices", str(row.get("slice", "?"))), ("templates", _template(row))):
            figures = self.groups[group][key]
            figures["rows"] += 1
            figures["rejected"] += bool(codes)
            figures.update(f"rejected_{code}" for code in codes)

    def to_dict(self, check_set: CheckSet | None = None) -> dict[str, Any]:
        names = [name for name, _ in check_set.checks] if check_set else sorted(self.by_check)
        result: dict[str, Any] = {
            "rows": self.rows,
            "kept": self.rows - self.rejected,
            "rejected": self.rejected,
            "reject_rate": share(self.rejected, self.rows),
            "by_reason": dict(sorted(self.by_reason.items())),
            "checks": {
                name: {
                    "rejected": self.by_check[name],
                    "reject_rate": share(self.by_check[name], self.rows),
                    "rejected_by_this_check_only": self.only_check[name],
                }
                for name in names
            },
        }
        for group, members in self.groups.items():
            result[group] = {}
            for name in sorted(members):
                figures = dict(members[name])
                figures["reject_rate"] = share(figures["rejected"], figures["rows"])
                result[group][name] = dict(sorted(figures.items()))
        if check_set is not None:
            result["checks_skipped"] = {name: 1 for name in sorted(check_set.skipped)}
            if check_set.classifier is not None:
                result["intent_classifier"] = {
                    "training_rows": check_set.classifier.training_rows,
                    "intents": len(check_set.classifier.intents),
                }
        return result


def filter_metrics(kept: list[Row], rejected: list[Row]) -> dict[str, Any]:
    tally = FilterTally()
    for row in kept:
        tally.add(row, [])
    for row in rejected:
        tally.add(row, row["reasons"])
    return tally.to_dict()


def check_pair_candidates(pairs: list[Row], checks: list[tuple[str, Check]]) -> list[Row]:
    """Each preference pair with every candidate's reasons (empty: passed); mix picks the winner."""
    candidates = [candidate for pair in pairs for candidate in pair["candidates"]]
    reasons = iter([found for _, found in filter_batches(candidates, checks)])
    return [{**pair, "candidates": [{**c, "reasons": next(reasons)} for c in pair["candidates"]]} for pair in pairs]


def _template(row: Row) -> str:
    provenance = row.get("provenance") or {}
    return str(provenance.get("template_id", "none"))


def _input(given: Path | None, default: Path, what: str, flag: str) -> Path | None:
    """An explicit path is used as is (a missing file is then an error); a missing default is skipped."""
    if given is not None:
        return given
    if default.exists():
        return default
    print(f"filter: {default} not found, so the {what} check is skipped (use {flag} to give the file)", file=sys.stderr)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stages.filter", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=Path, default=Path("data/generate/rows.jsonl"), help="rows to check")
    parser.add_argument("--blocklist", type=Path, default=Path("seeds/blocklist.txt"))
    parser.add_argument("--policy", type=Path, default=None, help="policy document (default seeds/policy.md)")
    parser.add_argument(
        "--seeds",
        type=Path,
        default=None,
        help="human seed rows to train the intent check (default data/seed/seeds.jsonl)",
    )
    parser.add_argument(
        "--pairs",
        type=Path,
        default=Path("data/generate/pairs.jsonl"),
        help="preference-pair candidates to check as well (skipped when the file is absent)",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--out", type=Path, default=Path("data/filter"), help="folder for kept.jsonl and rejected.jsonl"
    )
    parser.add_argument("--metrics", type=Path, default=Path("metrics/filter.json"))
    args = parser.parse_args()

    params = load_section(args.params, "filter", FilterParams)
    policy = seed_rows = None
    if "policy_facts" in params.checks:
        path = _input(args.policy, Path("seeds/policy.md"), "policy_facts", "--policy")
        policy = PolicyFacts.from_file(path) if path else None
    if "intent" in params.checks:
        path = _input(args.seeds, Path("data/seed/seeds.jsonl"), "intent", "--seeds")
        seed_rows = read_jsonl(path) if path else None
    check_set = assemble_checks(params, args.blocklist, policy, seed_rows)
    for name, why in check_set.skipped.items():
        print(f"filter: check {name} skipped: {why}", file=sys.stderr)

    tally = FilterTally()
    with atomic_open(args.out / "kept.jsonl") as kept_file, atomic_open(args.out / "rejected.jsonl") as rejected_file:
        for row, reasons in filter_batches((row for _, row in iter_jsonl(args.rows)), check_set.checks):
            tally.add(row, reasons)
            if reasons:
                rejected_file.write(dumps_row({**row, "reasons": reasons}) + "\n")
            else:
                kept_file.write(dumps_row(row) + "\n")
    metrics = tally.to_dict(check_set)
    pairs = read_jsonl(args.pairs) if args.pairs.exists() else []
    checked_pairs = check_pair_candidates(pairs, check_set.checks)
    write_jsonl(args.out / "pairs.jsonl", checked_pairs)
    metrics["pairs"] = len(checked_pairs)
    metrics["pair_candidates_rejected"] = sum(1 for p in checked_pairs for c in p["candidates"] if c["reasons"])
    write_json(args.metrics, metrics)
    print(f"filter: kept {metrics['kept']} of {metrics['rows']} ({metrics['rejected']} rejected)")
