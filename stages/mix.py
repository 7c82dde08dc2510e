"""Stage mix: human and synthetic rows at controlled ratios, split by seed lineage.

Rules (params `mix`), applied in this order and reported in metrics:
1. reviewer-rejected rows never enter; in critical slices only human rows and reviewer-approved
   (or edited) synthetic rows enter when `critical_requires_approval`;
2. in each critical slice synthetic rows are at most `max_synthetic_share_critical` of the slice;
3. overall, human rows are at least `min_human_share` of the mix.
Rows dropped to meet a share are chosen by a seeded per-row draw, so the choice is stable.
The train/eval split is by seed lineage: a seed and all its variations land on the same side.
Outputs: data/mix/train.jsonl and eval.jsonl (OpenAI chat fine-tuning format), data/mix/rows.jsonl
(full metadata), metrics/mix.json, metrics/mix_composition.csv (for `dvc plots`).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from stages.common.errors import UserError, run_main
from stages.common.hashing import unit_draw
from stages.common.jsonl import iter_jsonl, write_json, write_jsonl, write_text
from stages.common.metrics import share
from stages.common.params import MixParams, Taxonomy, load_section

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


def select_rows(
    humans: list[dict[str, Any]], candidates: list[dict[str, Any]], params: MixParams, taxonomy: Taxonomy
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The synthetic rows admitted to the mix, and how many each rule removed."""
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


def assign_split(row: dict[str, Any], params: MixParams) -> str:
    """train or eval, decided by the row's seed lineage so no seed spans both sides."""
    return "eval" if unit_draw(params.seed, "split", row["seed_id"]) < params.eval_fraction else "train"


def chat_record(row: dict[str, Any], system_prompt: str) -> dict[str, Any]:
    """A line of OpenAI's chat fine-tuning format."""
    messages = [{"role": "system", "content": system_prompt}]
    messages += [{"role": m["role"], "content": m["content"]} for m in row["messages"] if m["role"] != "system"]
    return {"messages": messages}


def mix_metrics(mixed: list[dict[str, Any]], removed: Counter[str], taxonomy: Taxonomy) -> dict[str, Any]:
    def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
        human = sum(1 for row in rows if row["source"] == "human")
        synthetic = len(rows) - human
        return {
            "rows": len(rows),
            "human": human,
            "synthetic": synthetic,
            "human_share": share(human, len(rows)),
            "synthetic_share": share(synthetic, len(rows)),
            "train": sum(1 for row in rows if row["split"] == "train"),
            "eval": sum(1 for row in rows if row["split"] == "eval"),
        }

    slices = {}
    for name in taxonomy.slices:
        slices[name] = {"critical": taxonomy.is_critical(name), **figures([r for r in mixed if r["slice"] == name])}
    return {**figures(mixed), "removed_by_rule": dict(sorted(removed.items())), "slices": slices}


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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.mix", description=__doc__)
    parser.add_argument("--seeds", type=Path, default=Path("data/seed/seeds.jsonl"))
    parser.add_argument("--reviewed", type=Path, default=Path("data/review/rows.jsonl"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("data/mix"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/mix.json"))
    parser.add_argument("--composition", type=Path, default=Path("metrics/mix_composition.csv"))
    args = parser.parse_args()

    params = load_section(args.params, "mix", MixParams)
    taxonomy = load_section(args.params, "taxonomy", Taxonomy)
    humans = [row for _, row in iter_jsonl(args.seeds)]
    if not humans:
        raise UserError(f"{args.seeds}: no human rows to mix")
    candidates = [row for _, row in iter_jsonl(args.reviewed)]
    synthetic, removed = select_rows(humans, candidates, params, taxonomy)
    mixed = [{**row, "split": assign_split(row, params)} for row in humans + synthetic]
    write_jsonl(args.out / "rows.jsonl", mixed)
    for split in ("train", "eval"):
        write_jsonl(
            args.out / f"{split}.jsonl", (chat_record(r, params.system_prompt) for r in mixed if r["split"] == split)
        )
    write_json(args.metrics, mix_metrics(mixed, removed, taxonomy))
    write_text(args.composition, composition_csv(mixed, taxonomy))
    print(f"mix: {len(mixed)} rows ({len(humans)} human, {len(synthetic)} synthetic)")


if __name__ == "__main__":
    run_main(main)
