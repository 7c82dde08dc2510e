"""Stage review: a seeded, stratified review queue, and the reviewers' verdicts applied.

Sampling (stages/review/sampling.py) is a per-row draw from (params seed, row id), so adding rows
never reshuffles who was already sampled; critical slices are sampled at a far higher rate (up to a cap
per slice). Verdicts (stages/review/decisions.py) come from a versioned CSV (seeds/reviews/decisions.csv)
and from a Label Studio export (seeds/reviews/label_studio_export.json), keyed by row id: approve, reject
(with a reason) or edit (with a corrected reply, which becomes the row once the filter's checks have
passed it: data/filter/human.jsonl; a failing edit keeps the row out of the mix).
Outputs: data/review/rows.jsonl (every candidate with its review status), data/review/queue.csv,
queue.jsonl and label_studio.json (sampled rows still awaiting a verdict, critical slices first:
stages/review/queue.py),
metrics/review.json (stages/review/metrics.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stages.core.cli import StageParser
from stages.core.decisions import DECISIONS_FILE, LABEL_STUDIO_EXPORT, Decision, checked_decisions
from stages.core.jsonl import atomic_open, dumps_row, iter_jsonl, write_json
from stages.core.params import Taxonomy, load_section
from stages.review.decisions import DecisionSet, EditVerdicts, apply_decision, read_decisions
from stages.review.metrics import ReviewTally, tally_metrics
from stages.review.params import ReviewParams
from stages.review.queue import QueueFiles
from stages.review.sampling import review_order


def build_parser() -> StageParser:
    """The stage's command line (see stages.core.cli)."""
    parser = StageParser("review", __doc__)
    parser.add_argument("--rows", type=Path, default=Path("data/dedup/kept.jsonl"), help="rows to review")
    parser.add_argument(
        "--removed",
        type=Path,
        nargs="*",
        default=[Path("data/filter/rejected.jsonl"), Path("data/dedup/removed.jsonl")],
        help="rows removed upstream: decisions about them are counted, not errors",
    )
    parser.add_argument("--decisions", type=Path, default=DECISIONS_FILE)
    parser.add_argument("--label-studio", type=Path, default=LABEL_STUDIO_EXPORT, help="Label Studio JSON export")
    parser.add_argument(
        "--human-checks", type=Path, default=Path("data/filter/human.jsonl"), help="the filter's verdicts on edits"
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_output("--out", "data/review", "folder for rows.jsonl and the queue")
    parser.add_output("--metrics", "metrics/review.json")
    return parser


def _ids_in(paths: list[Path], wanted: set[str]) -> set[str]:
    """The ids in `wanted` that a row of one of the JSONL `paths` (absent files skipped) has, streamed."""
    return {row["id"] for path in paths if path.exists() for _, row in iter_jsonl(path) if row["id"] in wanted}


def _decisions(args: argparse.Namespace, on_unknown: str) -> DecisionSet:
    """The verdicts of the decision files for current rows. Rows are streamed once to learn which of the
    ids the files name are current or removed upstream, instead of holding every row id."""
    checked = checked_decisions(args.decisions, args.label_studio)  # its problems are raised by read_decisions
    named = {decision.row_id for decision in checked if isinstance(decision, Decision)}
    known_ids = _ids_in([args.rows], named)
    removed_ids = _ids_in(args.removed, named)
    return read_decisions(args.decisions, known_ids, removed_ids, on_unknown, args.label_studio)


def _edit_reasons(decisions: DecisionSet, human_checks: Path) -> dict[str, list[str]]:
    """The filter's reasons against each edit (empty: passed), by row id; a failing edit said on stderr."""
    edits = [d for d in decisions.by_id.values() if d.verdict == "edit"]
    verdicts = EditVerdicts.read(human_checks)
    edit_reasons = {d.row_id: verdicts.of(d) for d in edits}
    for decision in edits:
        failed = "; ".join(edit_reasons[decision.row_id])
        if failed:
            print(f"review: {decision.where}: the edit fails the filter's checks: {failed}", file=sys.stderr)
    return edit_reasons


def main() -> None:
    """Sample the rows, apply the decisions, write the reviewed rows, the queue files and the metrics.

    The rows are streamed twice (ids and slices, then the review), so memory holds the sampled ids and
    the decisions, never the rows: the output is byte for byte what one pass over rows in memory wrote."""
    args = build_parser().parse()
    params = load_section(args.params, "review", ReviewParams)
    taxonomy = load_section(args.params, "taxonomy", Taxonomy)
    decisions = _decisions(args, params.on_unknown_id)
    edit_reasons = _edit_reasons(decisions, args.human_checks)
    order = review_order((row for _, row in iter_jsonl(args.rows)), params, taxonomy)
    sampled = order.keys()
    tally = ReviewTally(sampled)
    with atomic_open(args.out / "rows.jsonl") as rows_file, QueueFiles(args.out, taxonomy, order) as queue:
        for _, row in iter_jsonl(args.rows):
            decision = decisions.by_id.get(row["id"])
            reviewed = apply_decision(row, decision, row["id"] in sampled, edit_reasons.get(row["id"]))
            rows_file.write(dumps_row(reviewed) + "\n")
            tally.add(reviewed)
            if reviewed["review"]["status"] == "pending":
                queue.add(reviewed)
    metrics = tally_metrics(tally, taxonomy, params.flag_error_rate)
    metrics["decisions_for_removed_rows"] = decisions.for_removed_rows
    metrics["decisions_unknown"] = decisions.unknown
    write_json(args.metrics, metrics)
    print(f"review: {len(sampled)} sampled, {len(decisions.by_id)} decided, {queue.count} in the queue")
