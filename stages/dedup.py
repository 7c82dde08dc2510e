"""Stage dedup: exact and MinHash near-duplicates, against the seeds, and eval decontamination.

Rows are taken in order; each is compared with the eval split, the training seeds and the synthetic
rows kept before it. A row matching any of them (exact normalised text, or verified Jaccard >=
threshold on word n-grams) is removed with `duplicate_of` and a reason; only kept rows enter the
index, so removals never chain. Also runs standalone on any JSONL of rows.
Outputs: data/dedup/kept.jsonl, data/dedup/removed.jsonl, metrics/dedup.json.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.common.errors import run_main
from stages.common.jsonl import iter_jsonl, write_json, write_jsonl
from stages.common.metrics import share
from stages.common.minhash import BandIndex, Signer, jaccard, shingle_set
from stages.common.params import DedupParams, load_section
from stages.common.rows import conversation_text, user_text
from stages.common.text import match_key

# Which reference set a match came from, in the order a match is reported.
KINDS = ("eval", "seed", "synthetic")


@dataclass
class Entry:
    kind: str
    row_id: str
    shingles: frozenset[int]


class Deduplicator:
    """Holds the reference rows and the kept rows; decides row by row."""

    def __init__(self, params: DedupParams) -> None:
        self.params = params
        self.text_of: Callable[[dict[str, Any]], str] = user_text if params.text == "user" else conversation_text
        self.signer = Signer(params.num_perm)
        self.index = BandIndex(params.bands, params.rows_per_band)
        self.exact: dict[str, Entry] = {}
        self.entries: list[Entry] = []

    def add(self, kind: str, row: dict[str, Any]) -> None:
        text = self.text_of(row)
        entry = Entry(kind, row["id"], shingle_set(text, self.params.ngram))
        self.exact.setdefault(match_key(text), entry)
        self.index.insert(len(self.entries), self.signer.signature(entry.shingles))
        self.entries.append(entry)

    def match(self, row: dict[str, Any]) -> tuple[str, Entry, float] | None:
        """(reason, matched entry, similarity) for a duplicate, or None for a new row."""
        text = self.text_of(row)
        exact = self.exact.get(match_key(text))
        if exact is not None:
            return f"exact_{exact.kind}", exact, 1.0
        own = shingle_set(text, self.params.ngram)
        best: tuple[int, float, Entry] | None = None
        for position in self.index.candidates(self.signer.signature(own)):
            entry = self.entries[int(position)]  # type: ignore[call-overload]
            similarity = jaccard(own, entry.shingles)
            if similarity >= self.params.threshold:
                rank = KINDS.index(entry.kind)
                if best is None or (rank, -similarity) < (best[0], -best[1]):
                    best = (rank, similarity, entry)
        if best is None:
            return None
        return f"near_{best[2].kind}", best[2], round(best[1], 4)


def deduplicate(
    rows: list[dict[str, Any]],
    seeds: list[dict[str, Any]],
    evaluation: list[dict[str, Any]],
    params: DedupParams,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    deduper = Deduplicator(params)
    if params.decontaminate_eval:
        for row in evaluation:
            deduper.add("eval", row)
    if params.against_seeds:
        for row in seeds:
            deduper.add("seed", row)
    kept, removed = [], []
    for row in rows:
        found = deduper.match(row)
        if found is None:
            kept.append(row)
            deduper.add("synthetic", row)
        else:
            reason, entry, similarity = found
            removed.append({**row, "reasons": [reason], "duplicate_of": entry.row_id, "similarity": similarity})
    return kept, removed


def dedup_metrics(kept: list[dict[str, Any]], removed: list[dict[str, Any]]) -> dict[str, Any]:
    def figures(rows_in: int, gone: list[dict[str, Any]]) -> dict[str, Any]:
        reasons = Counter(row["reasons"][0] for row in gone)
        return {
            "rows": rows_in,
            "removed": len(gone),
            "duplicate_rate": share(len(gone), rows_in),
            "eval_contamination": reasons["exact_eval"] + reasons["near_eval"],
            "by_reason": dict(sorted(reasons.items())),
        }

    groups: dict[str, dict[str, list[int]]] = {"slices": defaultdict(list), "templates": defaultdict(list)}
    for is_removed, row in [(0, row) for row in kept] + [(1, row) for row in removed]:
        groups["slices"][row["slice"]].append(is_removed)
        template = (row.get("provenance") or {}).get("template_id", "none")
        groups["templates"][template].append(is_removed)
    removed_by: dict[str, dict[str, list[dict[str, Any]]]] = {
        "slices": defaultdict(list),
        "templates": defaultdict(list),
    }
    for row in removed:
        removed_by["slices"][row["slice"]].append(row)
        removed_by["templates"][(row.get("provenance") or {}).get("template_id", "none")].append(row)
    result = figures(len(kept) + len(removed), removed)
    result["kept"] = len(kept)
    for group, members in groups.items():
        result[group] = {name: figures(len(members[name]), removed_by[group][name]) for name in sorted(members)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.dedup", description=__doc__)
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
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("data/dedup"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/dedup.json"))
    args = parser.parse_args()

    params = load_section(args.params, "dedup", DedupParams)
    rows = [row for _, row in iter_jsonl(args.rows)]
    seeds = [row for _, row in iter_jsonl(args.seeds)] if params.against_seeds else []
    evaluation = [row for _, row in iter_jsonl(args.eval_file)] if params.decontaminate_eval else []
    kept, removed = deduplicate(rows, seeds, evaluation, params)
    write_jsonl(args.out / "kept.jsonl", kept)
    write_jsonl(args.out / "removed.jsonl", removed)
    write_json(args.metrics, dedup_metrics(kept, removed))
    print(f"dedup: kept {len(kept)} of {len(rows)} ({len(removed)} removed)")


if __name__ == "__main__":
    run_main(main)
