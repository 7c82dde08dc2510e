"""metrics/dedup.json from the gate's tally: the generic counts (rows, removed, one per reason code)
mapped to the dedup's figures, overall and per slice and per template."""

from __future__ import annotations

from collections import Counter
from typing import Any

from stages.core.tally import GateTally, share

DECONTAMINATION_KINDS = ("exact", "ngram", "near")


def figures(tally: GateTally, counts: Counter[str]) -> dict[str, Any]:
    """One counter's figures: rows, removed, shares of rows (4 decimals) and removals per reason."""
    rows, removed = counts["rows"], counts["removed"]
    reasons = tally.reasons(counts)
    synthetic = counts["exact_synthetic"] + counts["near_synthetic"]
    seed = counts["exact_seed"] + counts["near_seed"]
    return {
        "rows": rows,
        "removed": removed,
        "duplicate_rate": share(removed, rows),
        # variety collapse: rows that are (near-)copies of another synthetic row
        "synthetic_duplicate_rate": share(synthetic, rows),
        "seed_duplicate_rate": share(seed, rows),
        "eval_contamination": sum(value for code, value in reasons.items() if code.endswith("_eval")),
        "by_reason": reasons,
    }


def gate_metrics(tally: GateTally) -> dict[str, Any]:
    """The whole file but its `search` block: the total's figures, kept rows, eval contamination by
    kind, and the figures of each slice and template (sorted by name)."""
    result = figures(tally, tally.total)
    result["kept"] = result["rows"] - result["removed"]
    result["eval_contamination_by"] = {kind: tally.total[f"{kind}_eval"] for kind in DECONTAMINATION_KINDS}
    for group, members in tally.groups.items():
        result[group] = {name: figures(tally, members[name]) for name in sorted(members)}
    return result
