"""Stage mix: human and synthetic rows at controlled ratios, split by seed lineage.

Rules (params `mix`), applied in this order, each reported in metrics with the rows it removed:
1. exclusion rules by provenance (targeted rollback: a model version, template, seed, date...);
2. reviewer-rejected rows never enter; in critical slices only reviewer-approved (or edited)
   synthetic rows enter when `critical_requires_approval`;
3. in each critical slice synthetic rows are at most `max_synthetic_share_critical` of the slice;
4. optional per-slice `target_rows` caps (synthetic rows are trimmed, human rows never);
5. no intent has more than `max_intent_rows_vs_median` times the median intent's human rows
   (synthetic rows are trimmed, human rows never): rows per intent are a classifier's prior, so
   synthetic volume in some intents would pull other intents' traffic towards them;
6. overall, human rows are at least `min_human_share` of the mix.
Rows dropped to meet a share are chosen by a seeded per-row draw, so the choice is stable.
The train/eval split is by seed lineage: a seed and all its variations land on the same side.

Outputs: data/mix/train.jsonl and eval.jsonl (OpenAI chat fine-tuning format, validated),
data/mix/preferences.jsonl (prompt/chosen/rejected for TRL's DPO trainer), data/mix/rows.jsonl
(full metadata), data/mix/CARD.md (data card), metrics/mix.json, metrics/mix_composition.csv.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from stages.core.errors import UserError
from stages.core.hashing import file_sha256, unit_draw
from stages.core.jsonl import read_jsonl, write_json, write_jsonl, write_text
from stages.core.params import Taxonomy, load_section, section_hash
from stages.core.rows import reason_code
from stages.core.tally import share
from stages.core.text import word_jaccard
from stages.mix.card import render_card
from stages.mix.formats import chat_record, chat_record_problem, preference_record
from stages.mix.params import ExclusionRule, MixParams

ADMITTED_REVIEW = ("approved", "edited")


def max_synthetic(humans: int, synthetic_share: float) -> int:
    """Most synthetic rows allowed beside `humans` human rows for a synthetic share cap."""
    if synthetic_share >= 1:
        return math.inf  # type: ignore[return-value]
    return math.floor(humans * synthetic_share / (1 - synthetic_share) + 1e-9)


def _keep_lowest_draws(rows: list[dict[str, Any]], limit: int, seed: int, salt: str) -> list[dict[str, Any]]:
    if len(rows) <= limit:
        return rows
    chosen = {row["id"] for row in sorted(rows, key=lambda r: unit_draw(seed, salt, r["id"]))[:limit]}
    return [row for row in rows if row["id"] in chosen]


def rule_matches(rule: ExclusionRule, row: dict[str, Any]) -> bool:
    """True when every condition of `rule` holds for this synthetic row."""
    provenance = row.get("provenance") or {}
    for field in ("generator", "generator_version", "model", "model_version", "template_id"):
        wanted = getattr(rule, field)
        if wanted is not None and provenance.get(field) != wanted:
            return False
    if rule.seed_id is not None and rule.seed_id not in provenance.get("seed_ids", [row.get("seed_id")]):
        return False
    if rule.case_id is not None and row.get("case_id") != rule.case_id:
        return False
    if rule.generated_from or rule.generated_until:
        created = str(provenance.get("created_at") or "")
        if not created:
            return False  # rows without a generation date (the offline generator) match no date rule
        if rule.generated_from and created[:10] < rule.generated_from[:10]:
            return False
        if rule.generated_until and created[:10] > rule.generated_until[:10]:
            return False
    return True


def apply_exclusions(
    candidates: list[dict[str, Any]], rules: list[ExclusionRule]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rows no rule matches, and how many rows each rule removed (first matching rule counts)."""
    removed = {rule.name: 0 for rule in rules}
    kept = []
    for row in candidates:
        matched = next((rule for rule in rules if rule_matches(rule, row)), None)
        if matched is None:
            kept.append(row)
        else:
            removed[matched.name] += 1
    return kept, removed


def select_rows(
    humans: list[dict[str, Any]], candidates: list[dict[str, Any]], params: MixParams, taxonomy: Taxonomy
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The synthetic rows admitted to the mix, and how many each ratio/review rule removed."""
    removed: Counter[str] = Counter()
    admitted = []
    for row in candidates:
        status = row.get("review", {}).get("status")
        if status == "rejected":
            removed["review_rejected"] += 1
        elif taxonomy.is_critical(row["slice"]) and params.critical_requires_approval and status not in ADMITTED_REVIEW:
            removed["critical_unapproved"] += 1
        else:
            admitted.append(row)

    humans_per_slice = Counter(row["slice"] for row in humans)
    by_slice: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in admitted:
        by_slice[row["slice"]].append(row)
    for slice_name in taxonomy.critical:
        limit = max_synthetic(humans_per_slice[slice_name], params.max_synthetic_share_critical)
        kept = _keep_lowest_draws(by_slice[slice_name], limit, params.seed, "critical-share")
        removed["critical_share_cap"] += len(by_slice[slice_name]) - len(kept)
        by_slice[slice_name] = kept
    for slice_name, target in params.target_rows.items():
        limit = max(0, target - humans_per_slice[slice_name])
        kept = _keep_lowest_draws(by_slice[slice_name], limit, params.seed, "target-rows")
        removed["target_rows"] += len(by_slice[slice_name]) - len(kept)
        by_slice[slice_name] = kept

    if params.max_intent_rows_vs_median is not None:
        human_intents = Counter(row["intent"] for row in humans)
        for slice_name, rows in by_slice.items():
            kept = balance_intents(rows, human_intents, params.max_intent_rows_vs_median, params.seed)
            removed["intent_balance"] += len(rows) - len(kept)
            by_slice[slice_name] = kept

    limit = max_synthetic(len(humans), 1 - params.min_human_share)
    total = sum(len(rows) for rows in by_slice.values())
    if total > limit:
        # Trim non-critical slices first, in proportion to their size; critical slices are already capped.
        flexible = [name for name in by_slice if not taxonomy.is_critical(name)]
        fixed = total - sum(len(by_slice[name]) for name in flexible)
        room = max(0, limit - fixed)
        flexible_total = sum(len(by_slice[name]) for name in flexible)
        for name in flexible:
            quota = math.floor(room * len(by_slice[name]) / flexible_total) if flexible_total else 0
            kept = _keep_lowest_draws(by_slice[name], quota, params.seed, "human-share")
            removed["min_human_share"] += len(by_slice[name]) - len(kept)
            by_slice[name] = kept
    chosen = {row["id"] for rows in by_slice.values() for row in rows}
    return [row for row in admitted if row["id"] in chosen], removed


def balance_intents(
    synthetic: list[dict[str, Any]], human_counts: Counter[str], ratio: float, seed: int
) -> list[dict[str, Any]]:
    """The synthetic rows kept so that no intent has more than `ratio` x the median intent's human
    rows (`human_counts`: human rows per intent), human rows included (an intent with more human rows
    than that keeps them all)."""
    if not human_counts:
        return synthetic
    ceiling = math.floor(ratio * statistics.median(human_counts.values()) + 1e-9)
    by_intent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in synthetic:
        by_intent[row["intent"]].append(row)
    chosen = {
        row["id"]
        for intent, rows in by_intent.items()
        for row in _keep_lowest_draws(rows, max(0, ceiling - human_counts[intent]), seed, "intent-balance")
    }
    return [row for row in synthetic if row["id"] in chosen]


def assign_split(row: dict[str, Any], params: MixParams) -> str:
    """train or eval, decided by the row's seed lineage so no seed spans both sides."""
    return "eval" if unit_draw(params.seed, "split", row["seed_id"]) < params.eval_fraction else "train"


def failure_preferences(humans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Preference pairs from logged failures: the expert's corrected reply over the bot's failed one."""
    pairs = []
    for row in humans:
        failed = row.get("meta", {}).get("failed_reply")
        if row["origin"] == "failure" and failed:
            pairs.append(preference_record(row, chosen=row["messages"][-1]["content"], rejected=failed))
    return pairs


def choose_pair(pair: dict[str, Any], max_similarity: float) -> tuple[dict[str, Any], str] | tuple[None, str]:
    """(preference record, "kept") for a teacher pair with a clear winner, else (None, why not).

    A pair teaches something only when exactly one candidate passed the filter checks and the two
    replies differ: two failures (the same or different) have no chosen side, and near-identical
    replies carry no preference.
    """
    first, second = pair["candidates"]
    failed = [bool(candidate.get("reasons")) for candidate in pair["candidates"]]
    if all(failed):
        same = {reason_code(r) for r in first["reasons"]} & {reason_code(r) for r in second["reasons"]}
        return None, "both_failed_same_check" if same else "both_failed"
    if not any(failed):
        return None, "no_winner"
    chosen, rejected = (second, first) if failed[0] else (first, second)
    similarity = word_jaccard(chosen["messages"][-1]["content"], rejected["messages"][-1]["content"])
    if similarity >= max_similarity:
        return None, "near_duplicate_candidates"
    record = preference_record(
        chosen, chosen=chosen["messages"][-1]["content"], rejected=rejected["messages"][-1]["content"]
    )
    return record, "kept"


def mix_metrics(
    mixed: list[dict[str, Any]],
    removed: Counter[str],
    excluded: dict[str, int],
    taxonomy: Taxonomy,
    upstream: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
        human = sum(1 for row in rows if row["source"] == "human")
        synthetic = [row for row in rows if row["source"] == "synthetic"]
        reviewed = sum(1 for row in synthetic if row.get("review", {}).get("status") in ADMITTED_REVIEW)
        return {
            "rows": len(rows),
            "human": human,
            "synthetic": len(synthetic),
            "human_share": share(human, len(rows)),
            "synthetic_share": share(len(synthetic), len(rows)),
            "synthetic_reviewed_share": share(reviewed, len(synthetic)),
            "train": sum(1 for row in rows if row["split"] == "train"),
            "eval": sum(1 for row in rows if row["split"] == "eval"),
        }

    slices = {}
    for name in taxonomy.slices:
        review = upstream["review"].get("slices", {}).get(name, {})
        dedup = upstream["dedup"].get("slices", {}).get(name, {})
        slices[name] = {
            "critical": taxonomy.is_critical(name),
            **figures([r for r in mixed if r["slice"] == name]),
            "review_error_rate": review.get("error_rate"),
            "review_error_rate_ci95_high": (review.get("error_rate_ci95") or [None, None])[1],
            "duplicate_rate": dedup.get("duplicate_rate"),
        }
    return {
        **figures(mixed),
        "removed_by_rule": dict(sorted(removed.items())),
        "removed_by_exclusion": excluded,
        "slices": slices,
    }


def composition_csv(mixed: list[dict[str, Any]], taxonomy: Taxonomy) -> str:
    """slice,source,rows: the table `dvc plots` draws as slice composition."""
    counts = Counter((row["slice"], row["source"]) for row in mixed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["slice", "source", "rows"])
    for name in taxonomy.slices:
        for source in ("human", "synthetic"):
            writer.writerow([name, source, counts[(name, source)]])
    return buffer.getvalue()


def _read_metrics(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.mix", description=__doc__)
    parser.add_argument("--seeds", type=Path, default=Path("data/seed/seeds.jsonl"))
    parser.add_argument("--reviewed", type=Path, default=Path("data/review/rows.jsonl"))
    parser.add_argument("--pairs", type=Path, default=Path("data/filter/pairs.jsonl"), help="checked teacher pairs")
    parser.add_argument(
        "--upstream-metrics", type=Path, default=Path("metrics"), help="folder of earlier stages' metrics"
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("data/mix"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/mix.json"))
    parser.add_argument("--composition", type=Path, default=Path("metrics/mix_composition.csv"))
    args = parser.parse_args()

    params = load_section(args.params, "mix", MixParams)
    taxonomy = load_section(args.params, "taxonomy", Taxonomy)
    humans = read_jsonl(args.seeds)
    if not humans:
        raise UserError(f"{args.seeds}: no human rows to mix")
    candidates, excluded = apply_exclusions(read_jsonl(args.reviewed), params.exclude)
    synthetic, removed = select_rows(humans, candidates, params, taxonomy)
    mixed = [{**row, "split": assign_split(row, params)} for row in humans + synthetic]
    records = {
        split: [chat_record(r, params.system_prompt) for r in mixed if r["split"] == split]
        for split in ("train", "eval")
    }
    for split, split_records in records.items():
        for index, record in enumerate(split_records, start=1):
            problem = chat_record_problem(record)
            if problem:  # a bug upstream, not a user mistake: stop before writing a file OpenAI would refuse
                raise RuntimeError(f"{split}.jsonl record {index}: {problem}")
    preferences = failure_preferences(humans)
    pair_outcomes: Counter[str] = Counter()
    for pair in read_jsonl(args.pairs) if args.pairs.exists() else []:
        record, outcome = choose_pair(pair, params.pair_max_similarity)
        pair_outcomes[outcome] += 1
        if record is not None:
            preferences.append(record)
    upstream = {
        name: _read_metrics(args.upstream_metrics / f"{name}.json")
        for name in ("generate", "filter", "dedup", "review")
    }
    metrics = mix_metrics(mixed, removed, excluded, taxonomy, upstream)
    metrics["preference_pairs"] = len(preferences)
    input_hashes = {str(path): file_sha256(path)[:16] for path in (args.seeds, args.reviewed)}
    metrics["teacher_pairs"] = dict(sorted(pair_outcomes.items()))

    write_jsonl(args.out / "rows.jsonl", mixed)
    for split, split_records in records.items():
        write_jsonl(args.out / f"{split}.jsonl", split_records)
    write_jsonl(args.out / "preferences.jsonl", preferences)
    write_json(args.metrics, metrics)
    write_text(args.composition, composition_csv(mixed, taxonomy))
    write_text(
        args.out / "CARD.md",
        render_card(mixed, metrics, upstream, params, section_hash(params), taxonomy, input_hashes),
    )
    print(
        f"mix: {len(mixed)} rows ({len(humans)} human, {len(synthetic)} synthetic), {len(preferences)} preference pairs"
    )
