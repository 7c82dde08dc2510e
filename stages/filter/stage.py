"""Stage filter: quality checks on synthetic rows; every rejected row is kept with all its reasons.

Checks (switched on, ordered and tuned in params `filter`; one module per family in stages/filter/checks/):
  schema, length, blocklist    the row schema, character limits, blocked phrases (seeds/blocklist.txt)
  pii                          e-mails, phone numbers, Luhn-valid card numbers, valid IBANs, the domain's kinds
  refusal, ai_boilerplate      replies that decline to help; "as an AI", model names, prompt leftovers
  language, repetition         English in Latin script with clean characters; loops and template leftovers
  policy_facts                 figures and account-action claims that seeds/policy.md does not support
                               (action verbs and extra PII kinds: the domain file, seeds/domain.yaml)
  intent                       user text that reads as another intent than its label (a classifier
                               trained on the human seed rows of data/seed/seeds.jsonl)
  turns, structure, echo       each turn on its own; the seed's turns and roles, no copy; no echo of prompts/
  meaning, answers             the seed's spans and negations kept, grammatical; still the seed's intent
Runs standalone on any JSONL of rows in the pipeline's row schema (README.md, The row schema;
stages/core/rows.py): `id` (20 characters, the content hash core.rows.row_id), `messages` (chat turns,
user then assistant, the last the assistant's), `intent` and `slice` (params taxonomy), `source` (human or
synthetic), `origin`, `case_id`, `seed_id`, `provenance` (null for human rows, the generator's record for
synthetic ones) and `meta`; a row that breaks it is rejected as `schema: <field>: <problem>`, shown to no
other check. Such a run names its outputs, --out and --metrics (see the end). Explicit
--policy/--seeds/--prompts must exist; if the default ones are missing, the checks that need them are
skipped (said on stderr and in the metrics).
Outputs: data/filter/kept.jsonl, data/filter/rejected.jsonl (each row with its `reasons`),
data/filter/pairs.jsonl (preference-pair candidates with their reasons), data/filter/human.jsonl (the
same checks on the seed rows and the reviewers' edits: stages/filter/human.py), metrics/filter.json (per
check, per reason code, per slice and per template rejection counts and rates; `human_text`).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.core.cli import StageParser
from stages.core.decisions import DECISIONS_FILE, LABEL_STUDIO_EXPORT
from stages.core.domain import DEFAULT_DOMAIN_FILE, Domain, load_domain
from stages.core.executor import executor_from_env
from stages.core.jsonl import atomic_open, dumps_row, iter_jsonl, read_jsonl, write_json, write_jsonl
from stages.core.params import load_section
from stages.core.rows import reason_code
from stages.core.tally import GateTally, RemovedRows, batches, share
from stages.filter.checks.base import Check, CheckInputs, Row, check_of, registered
from stages.filter.human import HumanInputs, failures, write_human_verdicts
from stages.filter.params import FilterParams
from stages.filter.runner import CheckSet, assemble_checks, filter_batches


@dataclass
class FilterCounts:
    """What one filter run counted: the gate tally (rows, removals per reason code, per slice and
    template) and, per check, the rows that check alone rejected."""

    tally: GateTally = field(default_factory=GateTally)
    only_check: Counter[str] = field(default_factory=Counter)


@dataclass
class ShardOutcome:
    """One shard of rows filtered: its kept rows as output lines (no newline), in input order, and their
    tally; its rejected rows with their reasons, in input order (counted when written)."""

    kept_lines: list[str]
    kept_tally: GateTally
    rejected: list[tuple[Row, list[str]]]


def filter_shard(rows: Iterable[Row], checks: Sequence[Check]) -> ShardOutcome:
    """Run `checks` over one shard of rows (any number; checks see them in batches)."""
    outcome = ShardOutcome([], GateTally(), [])
    for row, reasons in filter_batches(rows, checks):
        if reasons:
            outcome.rejected.append((row, reasons))
        else:
            outcome.kept_tally.add(row)
            outcome.kept_lines.append(dumps_row(row))
    return outcome


def write_outcomes(outcomes: Iterable[ShardOutcome], out: Path) -> FilterCounts:
    """Write the shards' outcomes, in shard order, to `out`/kept.jsonl (rows as read) and
    `out`/rejected.jsonl (rows with their `reasons`), both atomically, and count them. Whichever
    executor filtered the shards, the files and counts are the same."""
    counts = FilterCounts()
    with atomic_open(out / "kept.jsonl") as kept, RemovedRows(out / "rejected.jsonl", counts.tally) as rejected:
        for outcome in outcomes:
            kept.writelines(line + "\n" for line in outcome.kept_lines)
            counts.tally.merge(outcome.kept_tally)
            for row, reasons in outcome.rejected:
                rejected.add(row, reasons)
                if len(reasons) == 1:  # a check gives at most one reason per row
                    counts.only_check[check_of(reason_code(reasons[0]))] += 1
    return counts


def write_filtered(rows: Iterable[Row], checks: list[Check], out: Path) -> FilterCounts:
    """Run `checks` over `rows` in this process and write the outputs (`write_outcomes`)."""
    return write_outcomes((filter_shard(batch, checks) for batch in batches(rows)), out)


def filter_metrics(counts: FilterCounts, check_set: CheckSet) -> dict[str, Any]:
    """metrics/filter.json without the pair figures: totals, `by_reason` (rows per reason code),
    `checks` (per check run: rows rejected, their share, rows rejected by it alone), `slices` and
    `templates` (rows, rejected, rejected_<code>, reject_rate), `checks_skipped`, and the checks'
    own facts (e.g. `intent_classifier`). Rates are shares of rows, rounded to 4 decimals."""
    total = counts.tally.total
    rows, rejected = total["rows"], total["removed"]
    by_reason = counts.tally.reasons()
    by_check: Counter[str] = Counter()
    for code, count in by_reason.items():
        by_check[check_of(code)] += count  # each check gives a row at most one reason
    result: dict[str, Any] = {
        "rows": rows,
        "kept": rows - rejected,
        "rejected": rejected,
        "reject_rate": share(rejected, rows),
        "by_reason": by_reason,
        "checks": {
            name: {
                "rejected": by_check[name],
                "reject_rate": share(by_check[name], rows),
                "rejected_by_this_check_only": counts.only_check[name],
            }
            for name in check_set.names()
        },
        "checks_skipped": {name: 1 for name in sorted(check_set.skipped)},
        **check_set.metrics(),
    }
    for group, members in counts.tally.groups.items():
        result[group] = {name: _group_figures(figures, counts.tally) for name, figures in sorted(members.items())}
    return result


def _group_figures(figures: Counter[str], tally: GateTally) -> dict[str, Any]:
    """One slice's or template's figures under the keys metrics/filter.json has always used."""
    named = {
        "rows": figures["rows"],
        "rejected": figures["removed"],
        "reject_rate": share(figures["removed"], figures["rows"]),
    }
    named |= {f"rejected_{code}": count for code, count in tally.reasons(figures).items()}
    return dict(sorted(named.items()))


def check_pair_candidates(pairs: list[Row], checks: list[Check]) -> list[Row]:
    """Each preference pair with every candidate's reasons (empty: passed); mix picks the winner."""
    candidates = [candidate for pair in pairs for candidate in pair["candidates"]]
    reasons = iter([found for _, found in filter_batches(candidates, checks)])
    return [{**pair, "candidates": [{**c, "reasons": next(reasons)} for c in pair["candidates"]]} for pair in pairs]


def _input(given: Path | None, default: Path, what: str, flag: str) -> Path | None:
    """An explicit path is used as is (a missing file is then an error); a missing default is skipped."""
    if given is not None:
        return given
    if default.exists():
        return default
    print(f"filter: {default} not found, so the {what} check is skipped (use {flag} to give the file)", file=sys.stderr)
    return None


def _domain(given: Path | None) -> Domain | None:
    """The domain file (an explicit path must exist); None, the neutral defaults, when the default is absent."""
    if given is None and not DEFAULT_DOMAIN_FILE.exists():
        print(
            f"filter: {DEFAULT_DOMAIN_FILE} not found: neutral action-claim verbs and no extra PII kinds",
            file=sys.stderr,
        )
        return None
    return load_domain(given or DEFAULT_DOMAIN_FILE)


def build_parser() -> StageParser:
    """The stage's command line (see stages.core.cli)."""
    parser = StageParser("filter", __doc__, raw=True)
    parser.add_argument("--rows", type=Path, default=Path("data/generate/rows.jsonl"), help="rows to check")
    parser.add_argument("--blocklist", type=Path, default=Path("seeds/blocklist.txt"))
    parser.add_argument(
        "--policy",
        type=Path,
        default=None,
        pipeline=Path("seeds/policy.md"),
        help="policy document (default seeds/policy.md)",
    )
    parser.add_argument(
        "--seeds",
        type=Path,
        default=None,
        pipeline=Path("data/seed/seeds.jsonl"),
        help="human seed rows to train the intent check (default data/seed/seeds.jsonl)",
    )
    parser.add_argument(
        "--prompts",
        type=Path,
        default=None,
        pipeline=Path("prompts"),
        help="teacher prompt templates (default prompts/)",
    )
    parser.add_argument(
        "--pairs",
        type=Path,
        default=Path("data/generate/pairs.jsonl"),
        help="preference-pair candidates to check as well (skipped when the file is absent)",
    )
    parser.add_argument(
        "--domain",
        type=Path,
        default=None,
        pipeline=DEFAULT_DOMAIN_FILE,
        help="domain file (default seeds/domain.yaml; neutral defaults if absent)",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--seed-lines",
        type=Path,
        default=Path("data/seed/where.jsonl"),
        help="each seed row's file and line, to name a failing seed by (absent: by case id)",
    )
    parser.add_argument("--decisions", type=Path, default=DECISIONS_FILE, help="reviewers' decisions: edits checked")
    parser.add_argument("--label-studio", type=Path, default=LABEL_STUDIO_EXPORT, help="Label Studio export: edits")
    parser.add_output("--out", "data/filter", "folder for kept.jsonl, rejected.jsonl, pairs.jsonl and human.jsonl")
    parser.add_output("--metrics", "metrics/filter.json")
    return parser


def main() -> None:
    """Filter --rows into --out (kept, rejected, pairs) and write --metrics; see the module docstring."""
    args = build_parser().parse()
    params = load_section(args.params, "filter", FilterParams)
    reads = {field for name in params.checks for field in registered()[name].reads}
    seed_checks = ", ".join(n for n in params.checks if n == "intent" or "seeds" in registered()[n].reads)
    inputs = CheckInputs(
        blocklist=args.blocklist,
        policy=_input(args.policy, Path("seeds/policy.md"), "policy_facts", "--policy")
        if "policy_facts" in params.checks
        else None,
        seeds=_input(args.seeds, Path("data/seed/seeds.jsonl"), seed_checks, "--seeds") if seed_checks else None,
        prompts=_input(args.prompts, Path("prompts"), "echo", "--prompts") if "prompts" in reads else None,
        domain=_domain(args.domain),
    )
    check_set = assemble_checks(params, inputs)
    for name, why in check_set.skipped.items():
        print(f"filter: check {name} skipped: {why}", file=sys.stderr)

    rows = (row for _, row in iter_jsonl(args.rows))
    executor = executor_from_env()
    if executor.distributed:  # imported here: with the local executor Ray is never imported
        from stages.filter.distributed import write_filtered_on_ray

        counts = write_filtered_on_ray(rows, check_set.checks, args.out, executor)
    else:
        counts = write_filtered(rows, check_set.checks, args.out)
    metrics = filter_metrics(counts, check_set)
    pairs = read_jsonl(args.pairs) if args.pairs.exists() else []
    checked_pairs = check_pair_candidates(pairs, check_set.checks)
    write_jsonl(args.out / "pairs.jsonl", checked_pairs)
    metrics["pairs"] = len(checked_pairs)
    metrics["pair_candidates_rejected"] = sum(1 for p in checked_pairs for c in p["candidates"] if c["reasons"])
    seeds = args.seeds or _input(None, Path("data/seed/seeds.jsonl"), "human seed text", "--seeds")
    human = HumanInputs(seeds, args.decisions, args.label_studio, args.rows, args.seed_lines)
    metrics["human_text"] = write_human_verdicts(human, check_set.checks, args.out / "human.jsonl")
    for line in failures(args.out / "human.jsonl"):
        print(f"filter: human text fails the checks: {line}", file=sys.stderr)
    write_json(args.metrics, metrics)
    print(f"filter: kept {metrics['kept']} of {metrics['rows']} ({metrics['rejected']} rejected)")
