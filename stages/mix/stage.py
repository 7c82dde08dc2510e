"""Stage mix: human and synthetic rows at controlled ratios, split by seed lineage.

The rules that admit synthetic rows are in stages/mix/rules.py (exclusions by provenance, reviewer
verdicts, the critical share cap, per-slice targets, the intent balance, the human share); every row
they remove goes to data/mix/removed.jsonl with its reason ("rule: detail"). Human rows leave only
through the gates of stages/mix/gates.py: a seed whose text failed the filter's checks, and any row
over the fine-tuning token limit (stages/mix/finetune.py: tokens, epochs and cost in the card).
The train/eval split is by seed lineage: a seed and all its variations land on the same side.

Outputs: data/mix/train.jsonl and eval.jsonl (OpenAI chat fine-tuning format, validated),
data/mix/preferences.jsonl and preferences_eval.jsonl (DPO pairs in TRL's conversational preference
format: `prompt` the messages before the reply, opening with the same system turn as every train.jsonl
line, `chosen` and `rejected` one assistant message each; split by seed lineage as the fine-tuning
lines are, so a pair from a held-out conversation is in preferences_eval.jsonl), data/mix/rows.jsonl
(full metadata), data/mix/removed.jsonl (removed rows with `reasons`), data/mix/CARD.md (data card),
metrics/mix.json, metrics/mix_composition.csv.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from stages.core.cli import StageParser
from stages.core.domain import DEFAULT_DOMAIN_FILE, load_domain
from stages.core.errors import UserError
from stages.core.hashing import file_sha256, unit_draw
from stages.core.jsonl import read_jsonl, write_json, write_jsonl, write_text
from stages.core.params import Taxonomy, load_section, section_hash
from stages.core.tally import RemovedRows
from stages.mix.card import CardInputs, render_card
from stages.mix.finetune import TokenCounter, token_figures
from stages.mix.formats import chat_record, chat_record_problem, preference_record_problem
from stages.mix.gates import failing_seeds, human_gate, token_gate
from stages.mix.metrics import composition_csv, mix_metrics
from stages.mix.params import MixParams
from stages.mix.preferences import failure_preferences, teacher_preferences
from stages.mix.rules import Removals, removal_note, select_rows

Row = dict[str, Any]
SPLITS = ("train", "eval")
UPSTREAM_STAGES = ("generate", "filter", "dedup", "review")


PREFERENCE_FILES = {"train": "preferences.jsonl", "eval": "preferences_eval.jsonl"}  # DPO pairs of each split


def assign_split(row: Row, params: MixParams) -> str:
    """The split, "train" or "eval", by a seeded draw on the row's `seed_id`, so no seed lineage spans both sides."""
    return "eval" if unit_draw(params.seed, "split", row["seed_id"]) < params.eval_fraction else "train"


def chat_records(mixed: list[Row], system_prompt: str) -> dict[str, list[Row]]:
    """The fine-tuning lines of each split; raises RuntimeError on a line OpenAI's upload would refuse
    (a bug upstream, not a user mistake: stop before writing the file)."""
    records = {split: [chat_record(r, system_prompt) for r in mixed if r["split"] == split] for split in SPLITS}
    for split, split_records in records.items():
        for index, record in enumerate(split_records, start=1):
            problem = chat_record_problem(record)
            if problem:
                raise RuntimeError(f"{split}.jsonl record {index}: {problem}")
    return records


def write_removed(path: Path, candidates: list[Row], removals: Removals) -> int:
    """Write every candidate (human rows, then synthetic ones) a rule removed, in input order, with its
    reason; return how many."""
    with RemovedRows(path) as removed:
        for row in candidates:
            reason = removals.reasons.get(row["id"])
            if reason is not None:
                removed.add(row, [reason])
    return removed.count


def _read_metrics(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def build_parser() -> StageParser:
    """The stage's command line (see stages.core.cli)."""
    parser = StageParser("mix", __doc__)
    parser.add_argument("--seeds", type=Path, default=Path("data/seed/seeds.jsonl"))
    parser.add_argument("--reviewed", type=Path, default=Path("data/review/rows.jsonl"))
    parser.add_argument("--pairs", type=Path, default=Path("data/filter/pairs.jsonl"), help="checked teacher pairs")
    parser.add_argument(
        "--human-checks", type=Path, default=Path("data/filter/human.jsonl"), help="the filter's verdicts on seeds"
    )
    parser.add_argument(
        "--upstream-metrics", type=Path, default=Path("metrics"), help="folder of earlier stages' metrics"
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--domain", type=Path, default=DEFAULT_DOMAIN_FILE, help="gives the system prompt")
    parser.add_output("--out", "data/mix", "folder for the fine-tuning files, rows.jsonl, removed.jsonl, CARD.md")
    parser.add_output("--metrics", "metrics/mix.json")
    parser.add_output("--composition", "metrics/mix_composition.csv", "the slice composition plot table")
    return parser


def _mixed_rows(
    seeds: list[Row], reviewed: list[Row], human_checks: Path, params: MixParams, taxonomy: Taxonomy
) -> tuple[list[Row], Removals]:
    """Seed rows that passed the filter's checks (`human_checks`), the admitted synthetic rows of
    `reviewed`, each with its split; with what every rule and gate removed."""
    removals = Removals()
    humans = human_gate(seeds, failing_seeds(human_checks), removals)
    synthetic, removals = select_rows(humans, reviewed, params, taxonomy, removals)
    mixed = [{**row, "split": assign_split(row, params)} for row in humans + synthetic]
    return mixed, removals


def _preferences(
    args: argparse.Namespace, params: MixParams, mixed: list[Row], system_prompt: str
) -> tuple[dict[str, list[Row]], dict[str, Any]]:
    """The preference records of each split (logged failures of the mix's human rows, then teacher pairs),
    each on its seed lineage's side as the fine-tuning lines are, so no held-out conversation is trained
    on by DPO; each prompt opening with `system_prompt`. With their outcomes for metrics
    (`preference_pairs`, `preference_pairs_by_split`, `teacher_pairs`, `failure_pairs`); raises
    RuntimeError on a record that is not the train.jsonl format (a bug, as in `chat_records`)."""
    pairs = read_jsonl(args.pairs) if args.pairs.exists() else []
    humans = [row for row in mixed if row["source"] == "human"]
    by_split: dict[str, list[Row]] = {}
    teacher_outcomes: Counter[str] = Counter()
    failure_outcomes: Counter[str] = Counter()
    for split in SPLITS:
        side = [pair for pair in pairs if assign_split(pair["candidates"][0], params) == split]
        teacher_records, outcomes = teacher_preferences(side, params.pair_max_similarity, system_prompt)
        teacher_outcomes.update(outcomes)
        side_humans = [row for row in humans if row["split"] == split]
        failure_records, outcomes = failure_preferences(side_humans, system_prompt, params.failure_pair_max_similarity)
        failure_outcomes.update(outcomes)
        by_split[split] = failure_records + teacher_records
        for index, record in enumerate(by_split[split], start=1):
            problem = preference_record_problem(record)
            if problem:
                raise RuntimeError(f"{PREFERENCE_FILES[split]} record {index}: {problem}")
    figures = {
        "preference_pairs": sum(len(records) for records in by_split.values()),
        "preference_pairs_by_split": {split: len(records) for split, records in by_split.items()},
        "teacher_pairs": dict(sorted(teacher_outcomes.items())),
        "failure_pairs": dict(sorted(failure_outcomes.items())),
    }
    return by_split, figures


def main() -> None:
    """Read seeds, reviewed rows and teacher pairs; write the mix, its removed rows, card and metrics."""
    args = build_parser().parse()
    params = load_section(args.params, "mix", MixParams)
    taxonomy = load_section(args.params, "taxonomy", Taxonomy)
    system_prompt = load_domain(args.domain).system_prompt
    seeds = read_jsonl(args.seeds)
    if not seeds:
        raise UserError(f"{args.seeds}: no human rows to mix")
    reviewed = read_jsonl(args.reviewed)
    mixed, removals = _mixed_rows(seeds, reviewed, args.human_checks, params, taxonomy)
    tuning = params.fine_tuning
    counter = TokenCounter(tuning.encoding)
    mixed, tokens = token_gate(mixed, counter, system_prompt, tuning.max_tokens_per_example, removals)
    records = chat_records(mixed, system_prompt)
    preferences, preference_figures = _preferences(args, params, mixed, system_prompt)
    upstream = {name: _read_metrics(args.upstream_metrics / f"{name}.json") for name in UPSTREAM_STAGES}
    metrics = {**mix_metrics(mixed, removals, taxonomy, upstream), **preference_figures}
    by_split = {split: [n for n, row in zip(tokens, mixed, strict=True) if row["split"] == split] for split in SPLITS}
    metrics["fine_tuning"] = token_figures(by_split, tuning, counter.exact).as_metrics(tuning)
    input_hashes = {str(path): file_sha256(path)[:16] for path in (args.seeds, args.reviewed)}
    card = CardInputs(mixed, metrics, upstream, params, section_hash(params), taxonomy, input_hashes)

    write_jsonl(args.out / "rows.jsonl", mixed)
    for split, split_records in records.items():
        write_jsonl(args.out / f"{split}.jsonl", split_records)
    for split, split_preferences in preferences.items():
        write_jsonl(args.out / PREFERENCE_FILES[split], split_preferences)
    removed = write_removed(args.out / "removed.jsonl", seeds + reviewed, removals)
    write_json(args.metrics, metrics)
    write_text(args.composition, composition_csv(mixed, taxonomy))
    write_text(args.out / "CARD.md", render_card(card))
    humans = metrics["human"]
    note = removal_note(len(reviewed), len(mixed) - humans, removals, params)
    if note:
        print(note)
    print(
        f"mix: {len(mixed)} rows ({humans} human, {len(mixed) - humans} synthetic), {metrics['preference_pairs']}"
        f" preference pairs, {removed} removed"
    )
