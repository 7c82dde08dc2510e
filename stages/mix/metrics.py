"""metrics/mix.json and metrics/mix_composition.csv: what is in the mix, slice by slice.

metrics/mix.json, flattened the way `dvc metrics diff` shows it:
    rows, human, synthetic, human_share, synthetic_share, synthetic_reviewed_share, train, eval
    removed_by_rule.<rule>, removed_by_exclusion.<rule name>        rows each rule removed
    slices.<slice>.<figure above>, .critical, .review_error_rate, .review_error_rate_ci95_high,
                   .duplicate_rate                                 the last three from review and dedup metrics
    preference_pairs, teacher_pairs.<outcome>                       (added by the stage)
Shares are fractions in [0, 1] rounded to 4 decimals (core.tally.share).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

from stages.core.params import Taxonomy
from stages.core.tally import share
from stages.mix.rules import ADMITTED_REVIEW, Removals

Row = dict[str, Any]


def composition(rows: list[Row]) -> dict[str, Any]:
    """Rows, human and synthetic counts and shares, reviewed share of the synthetic rows, train/eval counts."""
    human = sum(1 for row in rows if row["source"] == "human")
    synthetic = [row for row in rows if row["source"] == "synthetic"]
    reviewed = sum(1 for row in synthetic if row.get("review", {}).get("status") in ADMITTED_REVIEW)
    return {
        "rows": len(rows),
        "human": human,
        "synthetic": len(synthetic),
        "human_share": share(human, len(rows)),
        "synthetic_share": share(len(synthetic), len(rows)),
        "synthetic_reviewed_share": share(reviewed, len(synthetic)),
        "train": sum(1 for row in rows if row["split"] == "train"),
        "eval": sum(1 for row in rows if row["split"] == "eval"),
    }


def mix_metrics(
    mixed: list[Row], removals: Removals, taxonomy: Taxonomy, upstream: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """metrics/mix.json without the preference counts; `upstream` maps "review" and "dedup" (at least)
    to those stages' metrics ({} when absent: their figures are then None)."""
    slices = {}
    for name in taxonomy.slices:
        review = upstream["review"].get("slices", {}).get(name, {})
        dedup = upstream["dedup"].get("slices", {}).get(name, {})
        slices[name] = {
            "critical": taxonomy.is_critical(name),
            **composition([r for r in mixed if r["slice"] == name]),
            "review_error_rate": review.get("error_rate"),
            "review_error_rate_ci95_high": (review.get("error_rate_ci95") or [None, None])[1],
            "duplicate_rate": dedup.get("duplicate_rate"),
        }
    return {
        **composition(mixed),
        "removed_by_rule": dict(sorted(removals.by_rule.items())),
        "removed_by_exclusion": removals.by_exclusion,
        "slices": slices,
    }


def composition_csv(mixed: list[Row], taxonomy: Taxonomy) -> str:
    """slice,source,rows (a header, then each taxonomy slice x human/synthetic): what `dvc plots` draws."""
    counts = Counter((row["slice"], row["source"]) for row in mixed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["slice", "source", "rows"])
    for name in taxonomy.slices:
        for source in ("human", "synthetic"):
            writer.writerow([name, source, counts[(name, source)]])
    return buffer.getvalue()
