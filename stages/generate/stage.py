"""Stage generate: synthetic variations of the training seeds (never the eval split).

Backend `builtin` (the default) is the offline rule-based generator in
`stages.generate.builtin`. Backend `openai` asks teacher models on any OpenAI-compatible
endpoint (`stages.generate.teacher.run`): several (model, template, temperature) generators, a
per-request cache that makes reruns free and resumable, rate limits and a hard cost budget.
Every row carries a provenance record; variations that come out unusable are written to the
rejected file with a reason instead of being dropped.
Outputs: data/generate/rows.jsonl, data/generate/rejected.jsonl, data/generate/pairs.jsonl
(preference-pair candidates, openai backend), data/generate/cache/ (teacher responses, kept by DVC
between runs), metrics/generate.json (the data's figures only, so a fully cached rerun leaves it
unchanged), and for the teacher the run log logs/generate_runs.jsonl (untracked: what each run did).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.core.cli import StageParser
from stages.core.domain import DEFAULT_DOMAIN_FILE
from stages.core.errors import UserError
from stages.core.hashing import int_seed
from stages.core.jsonl import read_jsonl, write_json, write_jsonl
from stages.core.params import load_section
from stages.core.rows import user_text
from stages.core.tally import GateTally, RemovedRows, count_by, template_of
from stages.core.text import match_key
from stages.generate import builtin
from stages.generate.params import GenerateParams
from stages.generate.rows import rejected_row, synthetic_row
from stages.generate.variety import template_variety

Row = dict[str, Any]


def generate_builtin(
    seeds: list[Row], params: GenerateParams, lexicon: builtin.Lexicon | None = None
) -> tuple[list[Row], list[Row]]:
    """Variations of every seed with the built-in generator: (kept rows, rejected rows).

    `params.variations_per_seed` rows per seed, in seed order; `lexicon` defaults to the one
    `params.builtin.lexicon` names (a UserError if it is missing or invalid). A variation whose user
    turns match the seed's (stages.core.text.match_key) is rejected with reason `no_change`.
    """
    settings = params.builtin
    lexicon = lexicon or builtin.load_lexicon(settings.lexicon)
    template_hashes = {name: builtin.template_hash(name, lexicon) for name in settings.templates}
    base = {
        "generator": builtin.GENERATOR_NAME,
        "generator_version": builtin.GENERATOR_VERSION,
        "model": builtin.MODEL_NAME,
        "model_version": builtin.GENERATOR_VERSION,
        "params_hash": params.provenance_hash("builtin"),
    }
    by_intent: dict[str, list[Row]] = {}
    for seed in seeds:
        by_intent.setdefault(seed["intent"], []).append(seed)
    rows: list[Row] = []
    rejected: list[Row] = []
    for seed in seeds:
        for variation in range(params.variations_per_seed):
            sampling_seed = int_seed(params.seed, seed["id"], variation)
            temperature = settings.temperatures[sampling_seed % len(settings.temperatures)]
            for template_id in builtin.assign_template(settings.templates, params.seed, seed["id"], variation):
                made = builtin.vary(seed, template_id, temperature, sampling_seed, lexicon, by_intent[seed["intent"]])
                if made is not None:
                    break
            if made is None:
                continue  # no listed template applies to this seed (only `recombined` listed)
            provenance = {
                **base,
                "template_id": template_id,
                "template_hash": template_hashes[template_id],
                "temperature": temperature,
                "sampling_seed": sampling_seed,
                "seed_ids": made.seed_ids,
            }
            row = synthetic_row(seed, made.messages, provenance, "variation", {"variation": variation})
            if match_key(user_text(row)) == match_key(user_text(seed)):
                rejected.append(rejected_row(row, "no_change"))
            else:
                rows.append(row)
    return rows, rejected


def write_rows(out: Path, rows: list[Row], rejected: list[Row], pairs: list[dict[str, Any]]) -> GateTally:
    """Write OUT/rows.jsonl, OUT/rejected.jsonl (through the removed-rows writer) and OUT/pairs.jsonl;
    returns the tally of kept and rejected rows (rejected rows carry their `reasons`)."""
    tally = GateTally()
    for row in rows:
        tally.add(row)
    write_jsonl(out / "rows.jsonl", rows)
    with RemovedRows(out / "rejected.jsonl", tally) as removed:
        for row in rejected:
            removed.add(row, row["reasons"])
    write_jsonl(out / "pairs.jsonl", pairs)
    return tally


def generate_metrics(tally: GateTally, rows: list[Row], seeds: list[Row]) -> dict[str, Any]:
    """metrics/generate.json (without the teacher's figures): seeds, kept rows, rejected rows,
    rejections per reason code, kept rows per template; and per slice of the seeds, kept and
    rejected rows and kept rows per template. All figures are row counts."""
    templates, slices = tally.groups["templates"], tally.groups["slices"]

    def kept(counts: Any) -> int:
        return int(counts["rows"] - counts["removed"])

    return {
        "seeds": len(seeds),
        "rows": kept(tally.total),
        "rejected": tally.total["removed"],
        "rejected_by_reason": tally.reasons(),
        "by_template": {name: kept(templates[name]) for name in sorted(templates) if kept(templates[name])},
        "slices": {
            name: {
                "rows": kept(slices[name]),
                "rejected": slices[name]["removed"],
                "by_template": count_by((row for row in rows if row["slice"] == name), template_of),
            }
            for name in sorted({seed["slice"] for seed in seeds})
        },
    }


def build_parser() -> StageParser:
    """The stage's command line (see stages.core.cli)."""
    parser = StageParser("generate", __doc__, untracked=["run_log"])
    parser.add_argument("--seeds", type=Path, default=Path("data/seed/seeds.jsonl"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_output("--out", "data/generate", "folder for rows.jsonl, rejected.jsonl, pairs.jsonl and cache/")
    parser.add_output("--metrics", "metrics/generate.json")
    parser.add_argument("--prompts", type=Path, default=Path("prompts"), help="teacher prompt templates")
    parser.add_argument("--policy", type=Path, default=Path("seeds/policy.md"), help="grounds the teacher")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        pipeline=Path("data/generate/cache"),
        help="teacher response cache (default: OUT/cache)",
    )
    parser.add_argument(
        "--run-log", type=Path, default=Path("logs/generate_runs.jsonl"), help="teacher run figures (untracked)"
    )
    parser.add_argument("--domain", type=Path, default=DEFAULT_DOMAIN_FILE, help="the prompts' domain parts")
    return parser


def main() -> None:
    """Run the stage: read seeds and params, generate with the configured backend, write the outputs.

    Raises UserError for bad params or inputs (see generate_with_teacher for the teacher's), and,
    after writing every output, when the teacher's budget stopped the run early.
    """
    args = build_parser().parse()
    params = load_section(args.params, "generate", GenerateParams)
    seeds = read_jsonl(args.seeds)
    cache_dir = args.cache or args.out / "cache"
    pairs: list[dict[str, Any]] = []
    teacher_metrics: dict[str, Any] = {}
    stop_message = None
    if params.backend == "openai":
        # Imported here: the openai SDK takes half a second to import, which builtin runs skip.
        from stages.generate.teacher.metrics import print_summary
        from stages.generate.teacher.run import TeacherPaths, generate_with_teacher

        paths = TeacherPaths(args.prompts, args.policy, cache_dir, args.params, args.run_log, args.domain)
        result = generate_with_teacher(seeds, params, paths)
        rows, rejected, pairs, stop_message = result.rows, result.rejected, result.pairs, result.stop_message
        teacher_metrics = {"pairs": len(pairs), **result.metrics}
        print_summary(result.run)
    else:
        rows, rejected = generate_builtin(seeds, params)
        cache_dir.mkdir(parents=True, exist_ok=True)  # a DVC output of the stage, whatever the backend
    tally = write_rows(args.out, rows, rejected, pairs)
    variety = template_variety(rows, seeds, params.variety)
    collapsed = {name: entry["why"] for name, entry in variety.items() if entry["collapsed"]}
    metrics = {**generate_metrics(tally, rows, seeds), "variety": variety, "collapsed_templates": sorted(collapsed)}
    write_json(args.metrics, {**metrics, **teacher_metrics})
    print(f"generate: {len(rows)} rows from {len(seeds)} seeds ({len(rejected)} rejected, {len(pairs)} pairs)")
    for name, why in collapsed.items():
        print(f"generate: template {name} collapsed: {'; '.join(why)} (params generate.variety)")
    if stop_message:
        raise UserError(stop_message)
