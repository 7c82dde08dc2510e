"""Stage dedup: exact and MinHash near-duplicates, against the seeds, and eval decontamination.

Rows are taken in order; each is compared with every evaluation set the pipeline knows (the eval
split, data/seed/eval.jsonl, and the traffic params `evaluate.eval_set` names, an imported CSV/JSONL
log included), the training seeds and the synthetic rows kept before it. A row is removed, with
`duplicate_of` (for an imported log's row, its "file:line"), `similarity` and one reason, if it is
  exact_eval / ngram_eval / near_eval   the same normalised text as an eval row, or containing a long
                                        n-gram of one (decontamination), or a MinHash near-duplicate;
  exact_seed / near_seed                a copy or near-copy of a training seed;
  exact_synthetic / near_synthetic      a copy or near-copy of an earlier kept synthetic row,
reported in that order of preference. Near-duplicate: among MinHash banding candidates, exact Jaccard
>= threshold on word n-gram sets, or (short texts) at most `max_difference` differing n-grams with
Jaccard >= 0.5. Only kept rows are indexed, so removals never chain.
With params `lineage_walk` (flat.py: off by default) a row not removed by an eval row or a seed is first
compared with the kept rows of its own seed lineage only, and one removed there reads
"exact_synthetic: within its lineage" or "near_synthetic: within its lineage"; the rest are compared
with each other as above (a row removed inside its lineage stays removed, whatever happens to its match).
Runs standalone on any JSONL of rows with an `id` and chat `messages` (naming its outputs, --out and
--metrics: see the end); files are streamed twice, so memory does not grow with row size.
Outputs: data/dedup/kept.jsonl, data/dedup/removed.jsonl, metrics/dedup.json.
Code: search.py (the passes over rows) drives near_duplicates.py through the phases signatures.py,
candidates.py, verification.py and walk.py, and decontamination.py; metrics.py writes the figures.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stages.core.cli import StageParser
from stages.core.eval_set import EvalSetParams, eval_set_params, eval_texts
from stages.core.executor import executor_from_env
from stages.core.jsonl import atomic_open, dumps_row, iter_jsonl, write_json
from stages.core.params import DEFAULT_PARAMS_FILE, load_section
from stages.core.tally import GateTally, RemovedRows
from stages.dedup.metrics import gate_metrics
from stages.dedup.params import DedupParams
from stages.dedup.search import Row, annotate, search


def _stream(path: Path) -> Iterator[Row]:
    return (row for _, row in iter_jsonl(path))


def _imported(path: Path, settings: EvalSetParams) -> Iterator[Row]:
    """An imported eval log's records as reference rows: id "file:line", the text as the user turn."""
    for where, text in eval_texts(path, settings):
        yield {"id": where, "messages": [{"role": "user", "content": text}]}


def _evaluation(evaluation: Path, imported: EvalSetParams | None) -> Iterator[Row]:
    """The eval split's rows, then those of the traffic `imported` names if it is another file."""
    yield from _stream(evaluation)
    if imported is not None and Path(imported.path).resolve() != evaluation.resolve():
        yield from _imported(Path(imported.path), imported)


def deduplicate(
    rows: Path, seeds: Path, evaluation: Path, params: DedupParams, out: Path, imported: EvalSetParams | None = None
) -> dict[str, Any]:
    """The stage on files: reads `rows` twice (index, then annotate) and `seeds` / `evaluation` (and the
    eval traffic `imported` names: params `evaluate.eval_set`) once if params use them; writes
    out/kept.jsonl and out/removed.jsonl (atomically, in input order) and returns the content of
    metrics/dedup.json. Bad input is a UserError naming the file."""
    inputs = (
        _stream(rows),
        _stream(seeds) if params.against_seeds else [],
        _evaluation(evaluation, imported) if params.decontaminate_eval else [],
        params,
        (str(rows), str(seeds), str(evaluation)),
    )
    executor = executor_from_env()
    if executor.distributed:  # imported here: with the local executor Ray is never imported
        from stages.dedup.distributed import search_on_ray

        found = search_on_ray(*inputs, executor=executor)
    else:
        found = search(*inputs)
    tally = GateTally()
    with atomic_open(out / "kept.jsonl") as kept, RemovedRows(out / "removed.jsonl", tally) as removed:
        for row, match, other in annotate(_stream(rows), found):
            if match is None:
                tally.add(row)
                kept.write(dumps_row(row) + "\n")
            else:
                removed.add({**row, "duplicate_of": other, "similarity": match.similarity}, [match.reason])
    return {**gate_metrics(tally), "search": found.metrics()}


def _params(path: Path) -> DedupParams:
    """The `dedup` section of `path`; the built-in defaults when it is params.yaml and absent (another
    missing file is an error)."""
    if path == DEFAULT_PARAMS_FILE and not path.exists():
        print(f"dedup: no {path} here, using the built-in dedup defaults", file=sys.stderr)
        return DedupParams()
    return load_section(path, "dedup", DedupParams)


def build_parser() -> StageParser:
    """The stage's command line (see stages.core.cli)."""
    parser = StageParser("dedup", __doc__, raw=True)
    parser.add_argument("--rows", type=Path, default=Path("data/filter/kept.jsonl"), help="rows to deduplicate")
    parser.add_argument(
        "--seeds", type=Path, default=Path("data/seed/seeds.jsonl"), help="reference rows to dedup against"
    )
    parser.add_argument(
        "--eval",
        dest="eval_file",
        type=Path,
        default=Path("data/seed/eval.jsonl"),
        help="eval rows to decontaminate against",
    )
    parser.add_argument(
        "--no-seeds", action="store_true", help="do not compare with seeds (overrides dedup.against_seeds)"
    )
    parser.add_argument(
        "--no-eval", action="store_true", help="no eval decontamination (overrides dedup.decontaminate_eval)"
    )
    parser.add_argument(
        "--no-eval-set",
        action="store_true",
        help="do not read the eval traffic params evaluate.eval_set names (only --eval)",
    )
    parser.add_argument(
        "--params",
        type=Path,
        default=DEFAULT_PARAMS_FILE,
        help="params file (default params.yaml; built-in defaults if that is absent)",
    )
    parser.add_output("--out", "data/dedup", "folder for kept.jsonl and removed.jsonl")
    parser.add_output("--metrics", "metrics/dedup.json")
    return parser


def main() -> None:
    """`python -m stages.dedup`: parse the command line, run `deduplicate`, write the metrics."""
    args = build_parser().parse()
    params = _params(args.params)
    overrides = {}
    if args.no_seeds:
        overrides["against_seeds"] = False
    if args.no_eval:
        overrides["decontaminate_eval"] = False
    params = params.model_copy(update=overrides)

    imported = eval_set_params(args.params) if args.params.exists() and not args.no_eval_set else None
    metrics = deduplicate(args.rows, args.seeds, args.eval_file, params, args.out, imported)
    write_json(args.metrics, metrics)
    print(f"dedup: kept {metrics['kept']} of {metrics['rows']} ({metrics['removed']} removed)")
