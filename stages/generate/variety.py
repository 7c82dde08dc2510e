"""The variety gate: a template whose rows collapse onto one shape is flagged in metrics and the data card.

It runs in the generate stage, on every row the stage wrote (both backends), because that is where a
template's output is made and the mix stage reads metrics/generate.json for its data card; evaluate
measures diversity too, but after the mix is cut, too late for the card. Dedup removes rows that copy
their seed; this gate catches the other collapse: rows that resemble each other (a fixed frame on
every row), which no single row shows.

Per template, over the user turns of its rows and of the seed rows they derive from (the same count,
so group size does not move distinct-n): distinct-1/2 and mean pairwise TF-IDF cosine
(stages/core/diversity.py), and the share of rows opening with the same three words. A template is
`collapsed` when
    mean pairwise similarity > max_similarity_ratio x its seeds'   (rows more alike than their seeds)
    distinct-2 < min_distinct_2_ratio x its seeds'                 (fewer word pairs than the seeds had)
    top opening share > max_opening_share                          (one phrase opens too many rows)
Rows are never removed here: a flag is a finding for whoever tunes the generator or its lexicon.
Defaults from the built-in generator 1.1.0 on the repository's seeds (BENCHMARKS.md, issue 14): its
fixed-frame templates (formal, frustrated, situational: 4-6 openers on every row) measured 2.1-2.6x
their seeds' similarity, distinct-2 0.66-0.75x and 21-27% of rows on one opening; 2.0.0's templates
measure at most 1.9x, 0.75x and 11%.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from stages.core.diversity import DiversityMeter
from stages.core.params import Section
from stages.core.rows import user_text
from stages.core.tally import share
from stages.core.text import words

Row = dict[str, Any]
OPENING_WORDS = 3
MIN_ROWS = 30  # fewer rows say little: with 20 rows, 3 on one opening (15%) happen by chance


class VarietyParams(Section):
    """`generate.variety`: when a template counts as collapsed (see the module docstring)."""

    max_similarity_ratio: float = Field(default=2.0, gt=0)
    min_distinct_2_ratio: float = Field(default=0.7, gt=0, le=1)
    max_opening_share: float = Field(default=0.15, gt=0, le=1)


def opening(text: str) -> str:
    """The first OPENING_WORDS words of a text, casefolded."""
    return " ".join(words(text)[:OPENING_WORDS])


def _opening_share(texts: Sequence[str]) -> tuple[str, float]:
    top, count = Counter(opening(text) for text in texts).most_common(1)[0]
    return top, share(count, len(texts))


def template_variety(rows: Sequence[Row], seeds: Sequence[Row], params: VarietyParams) -> dict[str, dict[str, Any]]:
    """Figures and verdict per template (sorted by name) for `rows` derived from `seeds`.

    Each entry: rows, distinct_1, distinct_2, mean_pairwise_similarity, seeds_distinct_2,
    seeds_mean_pairwise_similarity, top_opening, top_opening_share, collapsed (bool) and why (list of
    the rules broken). Templates with fewer than MIN_ROWS rows are listed with collapsed False.
    """
    by_id = {seed["id"]: seed for seed in seeds}
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row["provenance"]["template_id"], []).append(row)
    meter = DiversityMeter([user_text(row) for row in [*rows, *seeds]], [])
    result = {}
    for name in sorted(groups):
        texts = [user_text(row) for row in groups[name]]
        own = [user_text(by_id[row["seed_id"]]) for row in groups[name] if row["seed_id"] in by_id]
        figures, reference = meter.figures(texts), meter.figures(own)
        top, top_share = _opening_share(texts)
        entry: dict[str, Any] = {
            **figures,
            "seeds_distinct_2": reference.get("distinct_2"),
            "seeds_mean_pairwise_similarity": reference.get("mean_pairwise_similarity"),
            "top_opening": top,
            "top_opening_share": top_share,
        }
        entry["why"] = _verdict(entry, params) if len(texts) >= MIN_ROWS else []
        entry["collapsed"] = bool(entry["why"])
        result[name] = entry
    return result


def _verdict(entry: dict[str, Any], params: VarietyParams) -> list[str]:
    why = []
    similarity, seeds_similarity = entry.get("mean_pairwise_similarity"), entry["seeds_mean_pairwise_similarity"]
    if similarity is not None and seeds_similarity and similarity > params.max_similarity_ratio * seeds_similarity:
        why.append(f"mean pairwise similarity {similarity:.3f} > {params.max_similarity_ratio:g} x its seeds'")
    distinct, seeds_distinct = entry.get("distinct_2"), entry["seeds_distinct_2"]
    if distinct is not None and seeds_distinct and distinct < params.min_distinct_2_ratio * seeds_distinct:
        why.append(f"distinct-2 {distinct:.3f} < {params.min_distinct_2_ratio:g} x its seeds'")
    if entry["top_opening_share"] > params.max_opening_share:
        why.append(f"'{entry['top_opening']}' opens {entry['top_opening_share']:.0%} of its rows")
    return why
