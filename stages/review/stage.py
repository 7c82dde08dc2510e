"""Stage review: a seeded, stratified review queue, and the reviewers' verdicts applied.

Sampling (stages/review/sampling.py) is a per-row draw from (params seed, row id), so adding rows
never reshuffles who was already sampled; critical slices are sampled at a far higher rate (up to a cap
per slice). Verdicts (stages/review/decisions.py) come from a versioned CSV (seeds/reviews/decisions.csv)
keyed by row id: approve, reject (with a reason) or edit (with a corrected reply, which becomes the row).
Outputs: data/review/rows.jsonl (every candidate with its review status), data/review/queue.csv,
queue.jsonl and label_studio.json (sampled rows still awaiting a verdict: stages/review/queue.py),
metrics/review.json (stages/review/metrics.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stages.core.jsonl import atomic_open, dumps_row, iter_jsonl, write_json
from stages.core.params import Taxonomy, load_section
from stages.review.decisions import apply_decision, decision_ids, read_decisions
from stages.review.metrics import ReviewTally, tally_metrics
from stages.review.params import ReviewParams
from stages.review.queue import QueueFiles
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
    parser.add_argument("--decisions", type=Path, default=Path("seeds/reviews/decisions.csv"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("data/review"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/review.json"))
    return parser


def _ids_in(paths: list[Path], wanted: set[str]) -> set[str]:
    """The ids in `wanted` that a row of one of the JSONL `paths` (absent files skipped) has, streamed."""
    return {row["id"] for path in paths if path.exists() for _, row in iter_jsonl(path) if row["id"] in wanted}


def main() -> None:
    """Sample the rows, apply the decisions, write the reviewed rows, the queue files and the metrics.

    The rows are streamed twice (ids and slices, then the review), so memory holds the sampled ids and
    the decisions, never the rows: the output is byte for byte what one pass over rows in memory wrote."""
    args = _parser().parse_args()
    params = load_section(args.params, "review", ReviewParams)
    taxonomy = load_section(args.params, "taxonomy", Taxonomy)
    named = decision_ids(args.decisions)
    known_ids = _ids_in([args.rows], named)
    removed_ids = _ids_in(args.removed, named)
    decisions = read_decisions(args.decisions, known_ids, removed_ids, params.on_unknown_id)
    sampled = sample_for_review((row for _, row in iter_jsonl(args.rows)), params, taxonomy)
    tally = ReviewTally(sampled)
    with atomic_open(args.out / "rows.jsonl") as rows_file, QueueFiles(args.out, taxonomy) as queue:
        for _, row in iter_jsonl(args.rows):
            reviewed = apply_decision(row, decisions.by_id.get(row["id"]), row["id"] in sampled)
            rows_file.write(dumps_row(reviewed) + "\n")
            tally.add(reviewed)
            if reviewed["review"]["status"] == "pending":
                queue.add(reviewed)
    metrics = tally_metrics(tally, taxonomy, params.flag_error_rate)
    metrics["decisions_for_removed_rows"] = decisions.for_removed_rows
    metrics["decisions_unknown"] = decisions.unknown
    write_json(args.metrics, metrics)
    print(f"review: {len(sampled)} sampled, {len(decisions.by_id)} decided, {queue.count} in the queue")
