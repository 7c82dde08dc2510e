"""metrics/review.json: review progress and estimated error rates per slice.

Per slice: rows, sampled, reviewed (decided), approved / rejected / edited / edit_failed (an edit the
filter's checks rejected: the row stays out of the mix) / pending counts, the error rate (rejected,
edited or edit_failed among decided rows) with its 95% Wilson interval (core.stats), the unreviewed
rows and the bad ones estimated among them (rate and interval times unreviewed rows), and `flagged`
when the interval's upper end exceeds `flag_error_rate`. Totals over slices and the flagged slices on top.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from typing import Any

from stages.core.params import Taxonomy
from stages.core.stats import wilson_interval

Row = dict[str, Any]
DECIDED = ("approved", "rejected", "edited", "edit_failed")
BAD = ("rejected", "edited", "edit_failed")  # the reviewer found the row wrong (an edit that failed the checks too)
TOTALS = ("rows", "sampled", "reviewed", "approved", "rejected", "edited", "edit_failed", "pending")


class ReviewTally:
    """Per slice: rows, rows sampled (by original id: an edited row counts under `edited_from`) and rows
    per review status; filled row by row, so the stage never holds the rows."""

    def __init__(self, sampled: Collection[str]) -> None:
        self.sampled = sampled
        self.slices: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, row: Row) -> None:
        """Count one reviewed row (it has `slice`, `id` and `review.status`)."""
        counts = self.slices[row["slice"]]
        counts["rows"] += 1
        counts["sampled"] += row.get("edited_from", row["id"]) in self.sampled
        counts[row["review"]["status"]] += 1


def slice_figures(counts: Counter[str], critical: bool, threshold: float) -> dict[str, Any]:
    """The figures of one slice from its `ReviewTally` counts (see the module docstring); rates rounded
    to 4 decimals."""
    decided = sum(counts[s] for s in DECIDED)
    bad = sum(counts[s] for s in BAD)
    low, high = wilson_interval(bad, decided)
    unreviewed = counts["pending"] + counts["not_sampled"]
    return {
        "critical": critical,
        "rows": counts["rows"],
        "sampled": counts["sampled"],
        "reviewed": decided,
        "approved": counts["approved"],
        "rejected": counts["rejected"],
        "edited": counts["edited"],
        "edit_failed": counts["edit_failed"],
        "pending": counts["pending"],
        "error_rate": round(bad / decided, 4) if decided else None,
        "error_rate_ci95": [round(low, 4), round(high, 4)],
        "unreviewed": unreviewed,
        "estimated_bad_unreviewed": round(unreviewed * (bad / decided), 1) if decided else None,
        "estimated_bad_unreviewed_ci95": [round(unreviewed * low, 1), round(unreviewed * high, 1)],
        "flagged": decided > 0 and high > threshold,
    }


def tally_metrics(tally: ReviewTally, taxonomy: Taxonomy, threshold: float) -> dict[str, Any]:
    """Totals, `flagged_slices` and `slices` (every taxonomy slice and any other slice seen, sorted)."""
    slices = {
        name: slice_figures(tally.slices.get(name, Counter()), taxonomy.is_critical(name), threshold)
        for name in sorted(set(tally.slices) | set(taxonomy.slices))
    }
    totals = {key: sum(s[key] for s in slices.values()) for key in TOTALS}
    return {**totals, "flagged_slices": sorted(n for n, s in slices.items() if s["flagged"]), "slices": slices}


def review_metrics(reviewed: list[Row], sampled: set[str], taxonomy: Taxonomy, threshold: float) -> dict[str, Any]:
    """`tally_metrics` of these reviewed rows."""
    tally = ReviewTally(sampled)
    for row in reviewed:
        tally.add(row)
    return tally_metrics(tally, taxonomy, threshold)
