"""metrics/review.json: review progress and estimated error rates per slice.

Per slice: rows, sampled, reviewed (decided), approved / rejected / edited / edit_failed (an edit the
filter's checks rejected: the row stays out of the mix) / pending counts, the error rate (rejected,
edited or edit_failed among decided rows) with its 95% Wilson interval (core.stats), the unreviewed
rows and the bad ones estimated among them (rate and interval times unreviewed rows), and `flagged`
when the interval's upper end exceeds `flag_error_rate`. Totals over slices and the flagged slices on top.
"""

from __future__ import annotations

from typing import Any

from stages.core.params import Taxonomy
from stages.core.stats import wilson_interval

Row = dict[str, Any]
DECIDED = ("approved", "rejected", "edited", "edit_failed")
BAD = ("rejected", "edited", "edit_failed")  # the reviewer found the row wrong (an edit that failed the checks too)
TOTALS = ("rows", "sampled", "reviewed", "approved", "rejected", "edited", "edit_failed", "pending")


def slice_figures(members: list[Row], sampled: set[str], critical: bool, threshold: float) -> dict[str, Any]:
    """The figures of one slice's reviewed rows (see the module docstring); rates rounded to 4 decimals."""
    status = [row["review"]["status"] for row in members]
    decided = sum(1 for s in status if s in DECIDED)
    bad = sum(1 for s in status if s in BAD)
    low, high = wilson_interval(bad, decided)
    unreviewed = sum(1 for s in status if s in ("pending", "not_sampled"))
    return {
        "critical": critical,
        "rows": len(members),
        "sampled": sum(1 for row in members if row.get("edited_from", row["id"]) in sampled),
        "reviewed": decided,
        "approved": status.count("approved"),
        "rejected": status.count("rejected"),
        "edited": status.count("edited"),
        "edit_failed": status.count("edit_failed"),
        "pending": status.count("pending"),
        "error_rate": round(bad / decided, 4) if decided else None,
        "error_rate_ci95": [round(low, 4), round(high, 4)],
        "unreviewed": unreviewed,
        "estimated_bad_unreviewed": round(unreviewed * (bad / decided), 1) if decided else None,
        "estimated_bad_unreviewed_ci95": [round(unreviewed * low, 1), round(unreviewed * high, 1)],
        "flagged": decided > 0 and high > threshold,
    }


def review_metrics(reviewed: list[Row], sampled: set[str], taxonomy: Taxonomy, threshold: float) -> dict[str, Any]:
    """Totals, `flagged_slices` and `slices` (every taxonomy slice and any other slice seen, sorted)."""
    slices = {
        name: slice_figures([row for row in reviewed if row["slice"] == name], sampled,
                            taxonomy.is_critical(name), threshold)
        for name in sorted({row["slice"] for row in reviewed} | set(taxonomy.slices))
    }  # fmt: skip
    totals = {key: sum(s[key] for s in slices.values()) for key in TOTALS}
    return {**totals, "flagged_slices": sorted(n for n, s in slices.items() if s["flagged"]), "slices": slices}
