"""Stage generate: synthetic variations of the training seeds (never the eval split).

Backend `builtin` (the default) is the offline rule-based generator in
`stages.generate.builtin`. Backend `openai` asks teacher models on any OpenAI-compatible
endpoint (`stages.generate.teacher.run`): several (model, template, temperature) generators, a
per-request cache that makes reruns free and resumable, rate limits and a hard cost budget.
Every row carries a provenance record; variations that come out unusable are written to the
rejected file with a reason instead of being dropped.
Outputs: data/generate/rows.jsonl, data/generate/rejected.jsonl, data/generate/pairs.jsonl
(preference-pair candidates, openai backend), data/generate/cache/ (teacher responses, kept by DVC
between runs), metrics/generate.json.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from stages.core.errors import UserError
from stages.core.hashing import int_seed, sha256_hex
from stages.core.jsonl import read_jsonl, write_json, write_jsonl
from stages.core.params import load_section
from stages.core.rows import row_id, user_text
from stages.core.tally import count_by
from stages.core.text import match_key
from stages.generate import builtin
from stages.generate.params import GenerateParams

# The builtin backend's provenance hashes only its own params, so adding teacher settings to the
# section leaves its rows byte-for-byte as they were.
BUILTIN_PARAMS = {"backend", "seed", "variations_per_seed", "templates", "temperatures"}


def synthetic_row(
    seed: dict[str, Any], messages: list[dict[str, str]], provenance: dict[str, Any], variation: int
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "messages": messages,
        "intent": seed["intent"],
        "slice": seed["slice"],
        "source": "synthetic",
        "origin": "variation",
        "case_id": seed["case_id"],
        "seed_id": seed["id"],
        "provenance": provenance,
        "meta": {"policy_refs": seed["meta"].get("policy_refs", []), "variation": variation},
    }
    row["id"] = row_id(row)
    return row


def generate_builtin(
    seeds: list[dict[str, Any]], params: GenerateParams
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Variations of every seed with the built-in generator: (kept rows, rejected rows)."""
    params_hash = sha256_hex(params.model_dump(mode="json", include=BUILTIN_PARAMS))[:16]
    template_hashes = {name: builtin.template_hash(name) for name in params.templates}
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for seed in seeds:
        for variation in range(params.variations_per_seed):
            template_id = builtin.assign_template(params.templates, params.seed, seed["id"], variation)
            sampling_seed = int_seed(params.seed, seed["id"], variation)
            temperature = params.temperatures[sampling_seed % len(params.temperatures)]
            provenance = {
                "generator": builtin.GENERATOR_NAME,
                "generator_version": builtin.GENERATOR_VERSION,
                "model": builtin.MODEL_NAME,
                "model_version": builtin.GENERATOR_VERSION,
                "template_id": template_id,
                "template_hash": template_hashes[template_id],
                "temperature": temperature,
                "sampling_seed": sampling_seed,
                "seed_ids": [seed["id"]],
                "params_hash": params_hash,
            }
            messages = builtin.vary(seed, template_id, temperature, sampling_seed)
            row = synthetic_row(seed, messages, provenance, variation)
            if match_key(user_text(row)) == match_key(user_text(seed)):
                rejected.append({**row, "reasons": ["no_change"]})
            else:
                rows.append(row)
    return rows, rejected


def generate_metrics(
    rows: list[dict[str, Any]], rejected: list[dict[str, Any]], seeds: list[dict[str, Any]]
) -> dict[str, Any]:
    template_of = lambda row: row["provenance"]["template_id"]  # noqa: E731
    # Counted by code (`code: detail`): teacher reasons carry details that differ per row.
    reasons = Counter(reason.split(":", 1)[0] for row in rejected for reason in row["reasons"])
    slices = sorted({seed["slice"] for seed in seeds})
    return {
        "seeds": len(seeds),
        "rows": len(rows),
        "rejected": len(rejected),
        "rejected_by_reason": dict(sorted(reasons.items())),
        "by_template": count_by(rows, template_of),
        "slices": {
            name: {
                "rows": sum(1 for row in rows if row["slice"] == name),
                "rejected": sum(1 for row in rejected if row["slice"] == name),
                "by_template": count_by((row for row in rows if row["slice"] == name), template_of),
            }
            for name in slices
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.generate", description=__doc__)
    parser.add_argument("--seeds", type=Path, default=Path("data/seed/seeds.jsonl"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("data/generate"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/generate.json"))
    parser.add_argument("--prompts", type=Path, default=Path("prompts"), help="teacher prompt templates")
    parser.add_argument("--policy", type=Path, default=Path("seeds/policy.md"), help="grounds the teacher")
    parser.add_argument("--cache", type=Path, default=None, help="teacher response cache (default: OUT/cache)")
    args = parser.parse_args()

    params = load_section(args.params, "generate", GenerateParams)
    seeds = read_jsonl(args.seeds)
    cache_dir = args.cache or args.out / "cache"
    pairs: list[dict[str, Any]] = []
    stop_message = None
    if params.backend == "openai":
        # Imported here: the openai SDK takes half a second to import, which builtin runs skip.
        from stages.generate.teacher.run import TeacherPaths, generate_with_teacher, print_summary

        paths = TeacherPaths(prompts=args.prompts, policy=args.policy, cache=cache_dir, params=args.params)
        result = generate_with_teacher(seeds, params, paths)
        rows, rejected, pairs, stop_message = result.rows, result.rejected, result.pairs, result.stop_message
        metrics = {**generate_metrics(rows, rejected, seeds), "pairs": len(pairs), **result.metrics}
        print_summary(result)
    else:
        rows, rejected = generate_builtin(seeds, params)
        metrics = generate_metrics(rows, rejected, seeds)
        cache_dir.mkdir(parents=True, exist_ok=True)  # a DVC output of the stage, whatever the backend
    write_jsonl(args.out / "rows.jsonl", rows)
    write_jsonl(args.out / "rejected.jsonl", rejected)
    write_jsonl(args.out / "pairs.jsonl", pairs)
    write_json(args.metrics, metrics)
    print(f"generate: {len(rows)} rows from {len(seeds)} seeds ({len(rejected)} rejected, {len(pairs)} pairs)")
    if stop_message:
        raise UserError(stop_message)
