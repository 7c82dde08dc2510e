"""Stage dedup: exact and MinHash near-duplicates, against the seeds, and eval decontamination.

Rows are taken in order; each is compared with the eval split, the training seeds and the synthetic
rows kept before it. A row is removed, with `duplicate_of`, `similarity` and one reason, if it is
  exact_eval / ngram_eval / near_eval   the same normalised text as an eval row, or containing a long
                                        n-gram of one (decontamination), or a MinHash near-duplicate;
  exact_seed / near_seed                a copy or near-copy of a training seed;
  exact_synthetic / near_synthetic      a copy or near-copy of an earlier kept synthetic row,
reported in that order of preference. Near-duplicate: among MinHash banding candidates, exact Jaccard
>= threshold on word n-gram sets, or (short texts) at most `max_difference` differing n-grams with
Jaccard >= 0.5. Only kept rows are indexed, so removals never chain.
Runs standalone on any JSONL of rows; files are streamed twice, so memory does not grow with row size.
Outputs: data/dedup/kept.jsonl, data/dedup/removed.jsonl, metrics/dedup.json.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from stages.core.errors import UserError
from stages.core.jsonl import atomic_open, dumps_row, iter_jsonl, write_json
from stages.core.params import load_section
from stages.core.rows import conversation_text, user_text
from stages.core.tally import share
from stages.dedup.decontaminate import NgramDecontaminator
from stages.dedup.minhash import TokenisedBatch, tokenise
from stages.dedup.near_duplicates import NGRAM, Match, NearDuplicateFinder, Resolution
from stages.dedup.params import DedupParams

KINDS = ("eval", "seed", "synthetic")  # order of preference when a row matches several
BATCH_ROWS = 4096
Row = dict[str, Any]


def _batches(rows: Iterable[Row], size: int = BATCH_ROWS) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


class DuplicateSearch:
    """Pass 1: index the eval rows, the seeds and the rows, and decide which rows go."""

    def __init__(self, params: DedupParams) -> None:
        self.params = params
        self.text_of: Callable[[Row], str] = user_text if params.text == "user" else conversation_text
        self.finder = NearDuplicateFinder(
            KINDS,
            ngram=params.ngram,
            num_perm=params.num_perm,
            bands=params.bands,
            rows_per_band=params.rows_per_band,
            threshold=params.threshold,
            max_difference=params.max_difference,
        )
        self.decontaminator = NgramDecontaminator(params.decontaminate_ngram, params.decontaminate_min_words)
        self.reference_ids: list[str] = []
        self.eval_rows = 0
        self.contaminated: dict[int, Match] = {}
        self.resolution: Resolution | None = None

    def _tokenised(self, rows: list[Row], where: str) -> TokenisedBatch:
        try:
            return tokenise([self.text_of(row) for row in rows])
        except (KeyError, TypeError) as err:
            raise UserError(f"{where}: a row has no readable 'messages' ({err})") from None

    def add_references(self, kind: str, rows: Iterable[Row], where: str) -> None:
        group = KINDS.index(kind)
        for chunk in _batches(rows):
            batch = self._tokenised(chunk, where)
            indices = self.finder.add(batch, group)
            self.reference_ids += [_row_id(row, where) for row in chunk]
            if kind == "eval":
                self.eval_rows += len(chunk)
                self.decontaminator.add_eval(batch, indices)

    def add_rows(self, rows: Iterable[Row], where: str) -> None:
        for chunk in _batches(rows):
            for row in chunk:
                _row_id(row, where)  # pass 2 reports matches by id: fail now, clearly, if one is missing
            batch = self._tokenised(chunk, where)
            indices = self.finder.add(batch, KINDS.index("synthetic"))
            if self.params.decontaminate_eval:
                for local, (eval_index, similarity) in self.decontaminator.find(batch).items():
                    self.contaminated[indices[local]] = Match(NGRAM, "eval", eval_index, similarity)

    def resolve(self) -> Resolution:
        self.resolution = self.finder.resolve(self.contaminated)
        return self.resolution


def _row_id(row: Row, where: str) -> str:
    if "id" not in row:
        raise UserError(f"{where}: a row has no 'id'")
    return str(row["id"])


def annotate(rows: Iterable[Row], search: DuplicateSearch) -> Iterator[tuple[Row, bool]]:
    """Pass 2: (row, removed) in input order; removed rows carry reasons, duplicate_of, similarity."""
    if search.resolution is None:
        raise ValueError("annotate() needs a resolved search (run_search)")
    matches = search.resolution.matches
    first = len(search.reference_ids)
    needed = {m.index for m in matches[first:] if m is not None and m.index >= first}
    seen_ids: dict[int, str] = {}
    for offset, row in enumerate(rows):
        index = first + offset
        if index in needed:
            seen_ids[index] = str(row["id"])
        match = matches[index]
        if match is None:
            yield row, False
            continue
        other = search.reference_ids[match.index] if match.index < first else seen_ids[match.index]
        yield {**row, "reasons": [match.reason], "duplicate_of": other, "similarity": match.similarity}, True


def deduplicate(
    rows: list[Row], seeds: list[Row], evaluation: list[Row], params: DedupParams
) -> tuple[list[Row], list[Row]]:
    """In-memory dedup: (kept rows, removed rows), both in input order."""
    search = run_search(rows, seeds, evaluation, params)
    kept, removed = [], []
    for row, is_removed in annotate(rows, search):
        (removed if is_removed else kept).append(row)
    return kept, removed


def run_search(
    rows: Iterable[Row],
    seeds: Iterable[Row],
    evaluation: Iterable[Row],
    params: DedupParams,
    names: tuple[str, str, str] = ("rows", "seed rows", "eval rows"),
) -> DuplicateSearch:
    """Pass 1 over all inputs, resolved: eval rows and seeds are indexed only if params ask for them.
    `names` (of rows, seeds, eval) go into error messages."""
    search = DuplicateSearch(params)
    if params.decontaminate_eval:
        search.add_references("eval", evaluation, names[2])
    if params.against_seeds:
        search.add_references("seed", seeds, names[1])
    search.add_rows(rows, names[0])
    search.resolve()
    return search


class DedupTally:
    """Counts per reason, overall and per slice and template, for metrics/dedup.json."""

    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self.groups: dict[str, defaultdict[str, Counter[str]]] = {
            "slices": defaultdict(Counter),
            "templates": defaultdict(Counter),
        }

    def add(self, row: Row, reason: str | None) -> None:
        template = str((row.get("provenance") or {}).get("template_id", "none"))
        for counter in (
            self.total,
            self.groups["slices"][str(row.get("slice", "?"))],
            self.groups["templates"][template],
        ):
            counter["rows"] += 1
            if reason:
                counter[reason] += 1

    @staticmethod
    def figures(counts: Counter[str]) -> dict[str, Any]:
        rows = counts["rows"]
        reasons = {key: value for key, value in counts.items() if key != "rows"}
        removed = sum(reasons.values())
        eval_hits = sum(value for key, value in reasons.items() if key.endswith("_eval"))
        synthetic = counts["exact_synthetic"] + counts["near_synthetic"]
        seed = counts["exact_seed"] + counts["near_seed"]
        return {
            "rows": rows,
            "removed": removed,
            "duplicate_rate": share(removed, rows),
            # variety collapse: rows that are (near-)copies of another synthetic row
            "synthetic_duplicate_rate": share(synthetic, rows),
            "seed_duplicate_rate": share(seed, rows),
            "eval_contamination": eval_hits,
            "by_reason": dict(sorted(reasons.items())),
        }

    def to_dict(self) -> dict[str, Any]:
        result = self.figures(self.total)
        result["kept"] = result["rows"] - result["removed"]
        result["eval_contamination_by"] = {kind: self.total[f"{kind}_eval"] for kind in ("exact", "ngram", "near")}
        for group, members in self.groups.items():
            result[group] = {name: self.figures(members[name]) for name in sorted(members)}
        return result


def dedup_metrics(kept: list[Row], removed: list[Row]) -> dict[str, Any]:
    tally = DedupTally()
    for row in kept:
        tally.add(row, None)
    for row in removed:
        tally.add(row, row["reasons"][0])
    return tally.to_dict()


def _search_metrics(search: DuplicateSearch) -> dict[str, Any]:
    resolution, params = search.resolution, search.params
    assert resolution is not None
    return {
        "candidate_pairs": resolution.candidate_pairs,
        "pairs_verified": resolution.verified,
        "pairs_confirmed": resolution.confirmed,
        "candidate_probability_at_threshold": round(search.finder.candidate_probability(params.threshold), 4),
        "eval_rows": search.eval_rows,
        "eval_rows_ngram_indexed": search.decontaminator.eval_texts_indexed,
        "eval_rows_too_short_for_ngrams": search.decontaminator.eval_texts_too_short,
    }


def _params(path: Path | None) -> DedupParams:
    if path is None:
        default = Path("params.yaml")
        if not default.exists():
            print("dedup: no params.yaml here, using the built-in dedup defaults", file=sys.stderr)
            return DedupParams()
        path = default
    return load_section(path, "dedup", DedupParams)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stages.dedup", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
        "--params",
        type=Path,
        default=None,
        help="params file (default params.yaml; built-in defaults if there is none)",
    )
    parser.add_argument("--out", type=Path, default=Path("data/dedup"), help="folder for kept.jsonl and removed.jsonl")
    parser.add_argument("--metrics", type=Path, default=Path("metrics/dedup.json"))
    args = parser.parse_args()

    params = _params(args.params)
    overrides = {}
    if args.no_seeds:
        overrides["against_seeds"] = False
    if args.no_eval:
        overrides["decontaminate_eval"] = False
    params = params.model_copy(update=overrides)

    def stream(path: Path) -> Iterator[Row]:
        return (row for _, row in iter_jsonl(path))

    search = run_search(
        stream(args.rows),
        stream(args.seeds) if params.against_seeds else [],
        stream(args.eval_file) if params.decontaminate_eval else [],
        params,
        (str(args.rows), str(args.seeds), str(args.eval_file)),
    )
    tally = DedupTally()
    with atomic_open(args.out / "kept.jsonl") as kept_file, atomic_open(args.out / "removed.jsonl") as removed_file:
        for row, removed in annotate(stream(args.rows), search):
            tally.add(row, row["reasons"][0] if removed else None)
            (removed_file if removed else kept_file).write(dumps_row(row) + "\n")
    metrics = tally.to_dict()
    metrics["search"] = _search_metrics(search)
    write_json(args.metrics, metrics)
    print(f"dedup: kept {metrics['kept']} of {metrics['rows']} ({metrics['removed']} removed)")
