"""Which rows go to human review: a seeded, stratified sample, critical slices first.

Each row has a fixed draw in [0, 1) from (params seed, row id) and is sampled when the draw is under
its slice's rate (`critical_rate` or `default_rate`), so adding rows never reshuffles who was already
sampled. Critical slices are capped at `max_per_critical_slice` rows each; an overall `budget_rows` is
spent on critical slices first, then on the others, lowest draws first (ties: row id). The review
queue is written in that same order (`review_order`), so a reviewer who stops after N rows has
reviewed the N rows a budget of N would have chosen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from stages.core.hashing import unit_draw
from stages.core.params import Taxonomy
from stages.review.params import ReviewParams


def sample_for_review(rows: Iterable[dict[str, Any]], params: ReviewParams, taxonomy: Taxonomy) -> set[str]:
    """Ids of the rows to review (rows need `id` and `slice`; read once, so a stream will do)."""
    return set(review_order(rows, params, taxonomy))


def review_order(rows: Iterable[dict[str, Any]], params: ReviewParams, taxonomy: Taxonomy) -> dict[str, int]:
    """The ids of the rows to review, each with its place (0, 1, ...) in the order they are served:
    critical slices first, then the others, each lowest draw first, ties by id (module docstring)."""
    drawn: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for row in rows:
        rate = params.critical_rate if taxonomy.is_critical(row["slice"]) else params.default_rate
        draw = unit_draw(params.seed, "review", row["id"])
        if draw < rate:
            drawn[row["slice"]].append((draw, row["id"]))
    critical: list[tuple[float, str]] = []
    other: list[tuple[float, str]] = []
    for slice_name, draws in sorted(drawn.items()):
        draws.sort()
        if taxonomy.is_critical(slice_name):
            critical += draws[: params.max_per_critical_slice]
        else:
            other += draws
    chosen = sorted(critical) + sorted(other)
    if params.budget_rows is not None:
        chosen = chosen[: params.budget_rows]
    return {row_id: place for place, (_, row_id) in enumerate(chosen)}
