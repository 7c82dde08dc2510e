"""Stage review: a seeded, stratified review queue, and the reviewers' verdicts applied.

Sampling (stages/review/sampling.py) is a per-row draw from (params seed, row id), so adding rows
never reshuffles who was already sampled; critical slices are sampled at a far higher rate (up to a cap
per slice). Verdicts (stages/review/decisions.py) come from a versioned CSV (seeds/reviews/decisions.csv)
and from a Label Studio export (seeds/reviews/label_studio_export.json), keyed by row id: approve, reject
(with a reason) or edit (with a corrected reply, which becomes the row once the filter's checks have
passed it: data/filter/human.jsonl; a failing edit keeps the row out of the mix).
Outputs: data/review/rows.jsonl (every candidate with its review status), data/review/queue.csv,
queue.jsonl and label_studio.json (sampled rows still awaiting a verdict: stages/review/queue.py),
metrics/review.json (stages/review/metrics.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stages.core.decisions import DECISIONS_FILE, LABEL_STUDIO_EXPORT
from stages.core.jsonl import read_jsonl, write_json, write_jsonl
from stages.core.params import Taxonomy, load_section
from stages.review.decisions import EditVerdicts, apply_decision, read_decisions
from stages.review.metrics import review_metrics
from stages.review.params import ReviewParams
from stages.review.queue import label_studio_tasks, queue_record, write_queue_csv
from stages.review.sampling import sample_for_review


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stages.review", description=__doc__)
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
    parser.add_argument("--out", type=Path, default=Path("data/review"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/review.json"))
    return parser


def main() -> None:
    """Sample the rows, apply the decisions, write the reviewed rows, the queue files and the metrics."""
    args = _parser().parse_args()
    params = load_section(args.params, "review", ReviewParams)
    taxonomy = load_section(args.params, "taxonomy", Taxonomy)
    rows = read_jsonl(args.rows)
    removed_ids = {row["id"] for path in args.removed if path.exists() for row in read_jsonl(path)}
    known = {row["id"] for row in rows}
    decisions = read_decisions(args.decisions, known, removed_ids, params.on_unknown_id, args.label_studio)
    edits = [d for d in decisions.by_id.values() if d.verdict == "edit"]
    verdicts = EditVerdicts.read(args.human_checks)
    edit_reasons = {d.row_id: verdicts.of(d) for d in edits}
    for decision in edits:
        failed = "; ".join(edit_reasons[decision.row_id])
        if failed:
            print(f"review: {decision.where}: the edit fails the filter's checks: {failed}", file=sys.stderr)
    sampled = sample_for_review(rows, params, taxonomy)
    reviewed = [
        apply_decision(row, decisions.by_id.get(row["id"]), row["id"] in sampled, edit_reasons.get(row["id"]))
        for row in rows
    ]
    queue = [row for row in reviewed if row["review"]["status"] == "pending"]
    write_jsonl(args.out / "rows.jsonl", reviewed)
    write_jsonl(args.out / "queue.jsonl", queue)
    write_queue_csv(args.out / "queue.csv", [queue_record(row, taxonomy) for row in queue])
    write_json(args.out / "label_studio.json", label_studio_tasks(queue, taxonomy))
    metrics = review_metrics(reviewed, sampled, taxonomy, params.flag_error_rate)
    metrics["decisions_for_removed_rows"] = decisions.for_removed_rows
    metrics["decisions_unknown"] = decisions.unknown
    write_json(args.metrics, metrics)
    print(f"review: {len(sampled)} sampled, {len(decisions.by_id)} decided, {len(queue)} in the queue")
