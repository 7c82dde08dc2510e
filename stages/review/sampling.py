"""Which rows go to human review: a seeded, stratified sample, critical slices first.

Each row has a fixed draw in [0, 1) from (params seed, row id) and is sampled when the draw is under
its slice's rate (`critical_rate` or `default_rate`), so adding rows never reshuffles who was already
sampled. Critical slices are capped at `max_per_critical_slice` rows each; an overall `budget_rows` is
spent on critical slices first, then on the others, lowest draws first.
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
    return {row_id for _, row_id in chosen}
