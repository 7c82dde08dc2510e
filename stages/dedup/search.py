"""The dedup over rows: pass 1 indexes the eval rows, the seeds and the rows and decides which rows go;
pass 2 reads the rows again and says, per row, what removes it.

Rows reach the engine as texts (`params.text`: the user turns, or the whole conversation) in batches of
core.tally.BATCH_ROWS; a row's index is its position among all rows added (eval rows, seeds, rows).
Errors: a row without readable messages or without an id is a UserError naming the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from stages.core.errors import UserError
from stages.core.rows import conversation_text, user_text
from stages.core.tally import batches
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.decontamination import NgramDecontaminator
from stages.dedup.lineage import LineageNumbers
from stages.dedup.near_duplicates import NGRAM, Match, NearDuplicateFinder, Resolution
from stages.dedup.params import DedupParams
from stages.dedup.signatures import TokenisedBatch, tokenise

KINDS = ("eval", "seed", "synthetic")  # order of preference when a row matches several
Row = dict[str, Any]


class DuplicateSearch:
    """Pass 1: index the eval rows, the seeds and the rows, then `resolve()` which rows go.

    Add the references first (eval, then seeds), then the rows; each `add_*` call streams its rows
    in batches, so memory holds the engine's arrays, never the rows.
    """

    def __init__(self, params: DedupParams) -> None:
        self.params = params
        self.text_of: Callable[[Row], str] = user_text if params.text == "user" else conversation_text
        self.finder = NearDuplicateFinder(KINDS, NearDuplicateConfig.from_params(params))
        self.decontaminator = NgramDecontaminator(params.decontaminate_ngram, params.decontaminate_min_words)
        self.reference_ids: list[str] = []
        self.eval_rows = 0
        self.contaminated: dict[int, Match] = {}
        self.resolution: Resolution | None = None
        self.lineages = LineageNumbers()  # read only with params.lineage_walk

    def _tokenised(self, rows: list[Row], where: str) -> TokenisedBatch:
        return tokenise(self.texts(rows, where))

    def texts(self, rows: list[Row], where: str) -> list[str]:
        """The compared text of each row (`params.text`); UserError naming `where` if one has no messages."""
        try:
            return [self.text_of(row) for row in rows]
        except (KeyError, TypeError) as err:
            raise UserError(f"{where}: a row has no readable 'messages' ({err})") from None

    def add_references(self, kind: str, rows: Iterable[Row], where: str) -> None:
        """Index reference rows of `kind` ("eval" or "seed"; always kept); `where` names them in errors."""
        group = KINDS.index(kind)
        for chunk in batches(rows):
            batch = self._tokenised(chunk, where)
            indices = self.finder.add(batch, group)
            self.reference_ids += [row_id(row, where) for row in chunk]
            if kind == "eval":
                self.eval_rows += len(chunk)
                self.decontaminator.add_eval(batch, indices)

    def add_rows(self, rows: Iterable[Row], where: str) -> None:
        """Index the rows to deduplicate, and look each up in the eval n-grams if params ask for it."""
        for chunk in batches(rows):
            for row in chunk:
                row_id(row, where)  # pass 2 reports matches by id: fail now, clearly, if one is missing
            batch = self._tokenised(chunk, where)
            lineages = self.lineages.of(chunk) if self.params.lineage_walk else None
            indices = self.finder.add(batch, KINDS.index("synthetic"), lineages)
            if self.params.decontaminate_eval:
                for local, (eval_index, similarity) in self.decontaminator.find(batch).items():
                    self.contaminated[indices[local]] = Match(NGRAM, "eval", eval_index, similarity)

    def resolve(self) -> Resolution:
        """Decide every row (once all rows are added)."""
        self.resolution = self.finder.resolve(self.contaminated)
        return self.resolution

    def metrics(self) -> dict[str, Any]:
        """The `search` block of metrics/dedup.json: pair counts, LSH recall at the threshold, eval rows, and
        with params.lineage_walk the `lineage_walk` figures (flat.combined)."""
        if self.resolution is None:
            raise ValueError("metrics() needs a resolved search")
        figures = {
            "candidate_pairs": self.resolution.candidate_pairs,
            "pairs_verified": self.resolution.verified,
            "pairs_confirmed": self.resolution.confirmed,
            "candidate_probability_at_threshold": round(self.finder.candidate_probability(self.params.threshold), 4),
            "eval_rows": self.eval_rows,
            "eval_rows_ngram_indexed": self.decontaminator.eval_texts_indexed,
            "eval_rows_too_short_for_ngrams": self.decontaminator.eval_texts_too_short,
        }
        if self.resolution.lineage_walk is not None:  # only with params.lineage_walk: the default's file is as it was
            figures["lineage_walk"] = self.resolution.lineage_walk
        return figures


def row_id(row: Row, where: str) -> str:
    """The row's `id` as a string; UserError naming `where` if it has none."""
    if "id" not in row:
        raise UserError(f"{where}: a row has no 'id'")
    return str(row["id"])


def search(
    rows: Iterable[Row],
    seeds: Iterable[Row],
    evaluation: Iterable[Row],
    params: DedupParams,
    names: tuple[str, str, str] = ("rows", "seed rows", "eval rows"),
    found: DuplicateSearch | None = None,
) -> DuplicateSearch:
    """Pass 1 over all inputs, resolved: eval rows and seeds are indexed only if params ask for them.
    `names` (of rows, seeds, eval) go into error messages; `found`: the search to fill (default a local
    DuplicateSearch; distributed.py gives one that runs on Ray)."""
    found = DuplicateSearch(params) if found is None else found
    if params.decontaminate_eval:
        found.add_references("eval", evaluation, names[2])
    if params.against_seeds:
        found.add_references("seed", seeds, names[1])
    found.add_rows(rows, names[0])
    found.resolve()
    return found


def annotate(rows: Iterable[Row], found: DuplicateSearch) -> Iterator[tuple[Row, Match | None, str | None]]:
    """Pass 2 over the same rows: (row, the match that removes it, the matched row's id), in input
    order; (row, None, None) for a kept row. ValueError if `found` is not resolved."""
    if found.resolution is None:
        raise ValueError("annotate() needs a resolved search")
    matches = found.resolution.matches
    first = len(found.reference_ids)
    needed = {m.index for m in matches[first:] if m is not None and m.index >= first}
    seen_ids: dict[int, str] = {}
    for offset, row in enumerate(rows):
        index = first + offset
        if index in needed:
            seen_ids[index] = str(row["id"])
        match = matches[index]
        if match is None:
            yield row, None, None
            continue
        other = found.reference_ids[match.index] if match.index < first else seen_ids[match.index]
        yield row, match, other
