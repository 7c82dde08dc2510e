"""Stage review_sample: a seeded, stratified review queue, and the reviewers' verdicts applied.

Sampling is a per-row draw from (params seed, row id), so adding rows never reshuffles who was
already sampled; critical slices are sampled at a far higher rate (up to a cap per slice).
Verdicts come from a versioned CSV (seeds/reviews/decisions.csv) keyed by row id:
approve, reject (with a reason) or edit (with a corrected reply, which becomes the row).
Outputs: data/review/rows.jsonl (every candidate with its review status), data/review/queue.csv,
queue.jsonl and label_studio.json (sampled rows still awaiting a verdict), metrics/review.json.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.core.errors import UserError
from stages.core.hashing import unit_draw
from stages.core.jsonl import atomic_open, read_jsonl, write_json, write_jsonl
from stages.core.params import Taxonomy, load_section
from stages.core.rows import row_id
from stages.core.stats import wilson_interval
from stages.review.params import ReviewParams

DECISION_COLUMNS = ("id", "verdict", "reason", "corrected_reply", "reviewer", "note")
VERDICTS = ("approve", "reject", "edit")
QUEUE_COLUMNS = (
    "id", "slice", "intent", "critical", "template", "model", "conversation", "seed_case",
    "verdict", "reason", "corrected_reply", "reviewer", "note",
)  # fmt: skip


@dataclass(frozen=True)
class Decision:
    row_id: str
    verdict: str
    reason: str
    corrected_reply: str
    reviewer: str
    note: str
    where: str


@dataclass
class DecisionSet:
    """Verdicts that apply to current rows, and the ones that no longer do."""

    by_id: dict[str, Decision]
    for_removed_rows: int = 0  # rows an upstream gate (filter, dedup) has since removed
    unknown: int = 0  # ids seen nowhere (only counted with on_unknown_id: warn)


def read_decisions(path: Path, known_ids: set[str], removed_ids: set[str], on_unknown: str = "error") -> DecisionSet:
    """Validated verdicts by row id; a bad line is a UserError naming file, line and field."""
    result = DecisionSet({})
    if not path.exists():
        return result
    seen: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("id", "verdict") if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}:1: missing column(s) {missing}; expected {list(DECISION_COLUMNS)}")
        for record in reader:
            where = f"{path}:{reader.line_num}"
            values = {key: (record.get(key) or "").strip() for key in DECISION_COLUMNS}
            decision = Decision(values["id"], values["verdict"].lower(), values["reason"],
                                values["corrected_reply"], values["reviewer"], values["note"], where)  # fmt: skip
            if decision.verdict not in VERDICTS:
                raise UserError(f"{where}: field 'verdict': '{decision.verdict}' is not one of {list(VERDICTS)}")
            if decision.verdict == "reject" and not decision.reason:
                raise UserError(f"{where}: field 'reason': a reject needs a reason")
            if decision.verdict == "edit" and not decision.corrected_reply:
                raise UserError(f"{where}: field 'corrected_reply': an edit needs the corrected reply")
            if decision.row_id in seen:
                raise UserError(
                    f"{where}: field 'id': second decision for '{decision.row_id}' (first at {seen[decision.row_id]})"
                )
            seen[decision.row_id] = where
            if decision.row_id in known_ids:
                result.by_id[decision.row_id] = decision
            elif decision.row_id in removed_ids:
                result.for_removed_rows += 1
            elif on_unknown == "warn":
                result.unknown += 1
            else:
                raise UserError(
                    f"{where}: field 'id': unknown row id '{decision.row_id}' (no current row has it; "
                    "set review.on_unknown_id: warn to keep decisions for rows a params change replaced)"
                )
    return result


def sample_for_review(rows: list[dict[str, Any]], params: ReviewParams, taxonomy: Taxonomy) -> set[str]:
    """Ids of the rows to review.

    Each row has a fixed draw from (seed, row id) and is sampled when the draw is under its slice's
    rate, so adding rows never unsamples earlier ones. Critical slices are capped per slice; an
    overall budget is spent on critical slices first, then on the others, lowest draws first.
    """
    drawn: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for row in rows:
        rate = params.critical_rate if taxonomy.is_critical(row["slice"]) else params.default_rate
        draw = unit_draw(params.seed, "review", row["id"])
        if draw < rate:
            drawn[row["slice"]].append((draw, row["id"]))
    critical: list[tuple[float, str]] = []
    other: list[tuple[float, str]] = []
    for slice_name, draws in sorted(drawn.items()):
        draws.sort()
        if taxonomy.is_critical(slice_name):
            critical += draws[: params.max_per_critical_slice]
        else:
            other += draws
    chosen = sorted(critical) + sorted(other)
    if params.budget_rows is not None:
        chosen = chosen[: params.budget_rows]
    return {row_id_ for _, row_id_ in chosen}


def apply_decision(row: dict[str, Any], decision: Decision | None, sampled: bool) -> dict[str, Any]:
    """The row with its review status; an edit replaces the last assistant turn."""
    if decision is None:
        return {**row, "review": {"status": "pending" if sampled else "not_sampled"}}
    status = {"approve": "approved", "reject": "rejected", "edit": "edited"}[decision.verdict]
    review = {"status": status, "reviewer": decision.reviewer, "reason": decision.reason, "note": decision.note}
    if decision.verdict != "edit":
        return {**row, "review": review}
    messages = [dict(m) for m in row["messages"]]
    last_assistant = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    messages[last_assistant]["content"] = decision.corrected_reply
    edited = {**row, "messages": messages, "provenance": {**row["provenance"], "human_edited": True}}
    edited["id"] = row_id(edited)
    return {**edited, "edited_from": row["id"], "review": review}


def readable(row: dict[str, Any]) -> str:
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in row["messages"])


def queue_record(row: dict[str, Any], taxonomy: Taxonomy) -> dict[str, str]:
    provenance = row.get("provenance") or {}
    return {
        "id": row["id"],
        "slice": row["slice"],
        "intent": row["intent"],
        "critical": "yes" if taxonomy.is_critical(row["slice"]) else "no",
        "template": str(provenance.get("template_id", "")),
        "model": str(provenance.get("model", "")),
        "conversation": readable(row),
        "seed_case": row["case_id"],
        "verdict": "", "reason": "", "corrected_reply": "", "reviewer": "", "note": "",
    }  # fmt: skip


def write_queue_csv(path: Path, records: list[dict[str, str]]) -> None:
    # utf-8-sig so spreadsheet programs detect the encoding; every field quoted for embedded newlines.
    with atomic_open(path) as handle:
        handle.write("\ufeff")
        writer = csv.DictWriter(handle, fieldnames=QUEUE_COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def label_studio_tasks(queue: list[dict[str, Any]], taxonomy: Taxonomy) -> list[dict[str, Any]]:
    """Label Studio import file: one task per queued row, the row id kept for the decisions file."""
    return [{"data": queue_record(row, taxonomy)} for row in queue]


def review_metrics(
    reviewed: list[dict[str, Any]], sampled: set[str], taxonomy: Taxonomy, threshold: float
) -> dict[str, Any]:
    slices: dict[str, dict[str, Any]] = {}
    for name in sorted({row["slice"] for row in reviewed} | set(taxonomy.slices)):
        members = [row for row in reviewed if row["slice"] == name]
        status = [row["review"]["status"] for row in members]
        decided = sum(1 for s in status if s in ("approved", "rejected", "edited"))
        bad = sum(1 for s in status if s in ("rejected", "edited"))
        low, high = wilson_interval(bad, decided)
        unreviewed = sum(1 for s in status if s in ("pending", "not_sampled"))
        slices[name] = {
            "critical": taxonomy.is_critical(name),
            "rows": len(members),
            "sampled": sum(1 for row in members if row.get("edited_from", row["id"]) in sampled),
            "reviewed": decided,
            "approved": status.count("approved"),
            "rejected": status.count("rejected"),
            "edited": status.count("edited"),
            "pending": status.count("pending"),
            "error_rate": round(bad / decided, 4) if decided else None,
            "error_rate_ci95": [round(low, 4), round(high, 4)],
            "unreviewed": unreviewed,
            "estimated_bad_unreviewed": round(unreviewed * (bad / decided), 1) if decided else None,
            "estimated_bad_unreviewed_ci95": [round(unreviewed * low, 1), round(unreviewed * high, 1)],
            "flagged": decided > 0 and high > threshold,
        }
    totals = {
        key: sum(s[key] for s in slices.values())
        for key in ("rows", "sampled", "reviewed", "approved", "rejected", "edited", "pending")
    }
    return {**totals, "flagged_slices": sorted(n for n, s in slices.items() if s["flagged"]), "slices": slices}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.review_sample", description=__doc__)
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
    args = parser.parse_args()

    params = load_section(args.params, "review", ReviewParams)
    taxonomy = load_section(args.params, "taxonomy", Taxonomy)
    rows = read_jsonl(args.rows)
    removed_ids = {row["id"] for path in args.removed if path.exists() for row in read_jsonl(path)}
    decisions = read_decisions(args.decisions, {row["id"] for row in rows}, removed_ids, params.on_unknown_id)
    sampled = sample_for_review(rows, params, taxonomy)
    reviewed = [apply_decision(row, decisions.by_id.get(row["id"]), row["id"] in sampled) for row in rows]
    queue = [row for row in reviewed if row["review"]["status"] == "pending"]
    write_jsonl(args.out / "rows.jsonl", reviewed)
    write_jsonl(args.out / "queue.jsonl", queue)
    write_queue_csv(args.out / "queue.csv", [queue_record(row, taxonomy) for row in queue])
    write_json(args.out / "label_studio.json", label_studio_tasks(queue, taxonomy))
    metrics = review_metrics(reviewed, sampled, taxonomy, params.flag_error_rate)
    metrics["decisions_for_removed_rows"] = decisions.for_removed_rows
    metrics["decisions_unknown"] = decisions.unknown
    write_json(args.metrics, metrics)
    print(f"review_sample: {len(sampled)} sampled, {len(decisions.by_id)} decided, {len(queue)} in the queue")
