"""The data card written beside each mix: what is in this version and how it was made."""

from __future__ import annotations

from collections import Counter
from typing import Any

from stages.core.params import Taxonomy
from stages.mix.params import MixParams


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return lines


def render_card(
    mixed: list[dict[str, Any]],
    metrics: dict[str, Any],
    upstream: dict[str, dict[str, Any]],
    params: MixParams,
    params_hash: str,
    taxonomy: Taxonomy,
    input_hashes: dict[str, str],
) -> str:
    synthetic = [row for row in mixed if row["source"] == "synthetic"]
    generators = Counter(
        f"{row['provenance']['generator']} {row['provenance']['generator_version']} / {row['provenance']['model']}"
        for row in synthetic
    )
    templates = Counter(row["provenance"]["template_id"] for row in synthetic)
    lines = [
        "# Data card",
        "",
        f"Mix params hash `{params_hash}`; inputs "
        + ", ".join(f"`{path}` sha256 `{digest}`" for path, digest in sorted(input_hashes.items()))
        + ". The git commit whose dvc.lock lists this card is its revision: the card names content hashes"
        " rather than a commit so that a rebuild is byte-identical.",
        f"{metrics['rows']} rows: {metrics['human']} human ({metrics['human_share']:.0%}), "
        f"{metrics['synthetic']} synthetic; {metrics['train']} train / {metrics['eval']} eval, split by seed lineage. "
        f"Rules: human share >= {params.min_human_share:.0%}; synthetic <= {params.max_synthetic_share_critical:.0%} "
        f"of each critical slice{', and only reviewer-approved there' if params.critical_requires_approval else ''}"
        + (
            f"; no intent above {params.max_intent_rows_vs_median:g}x the median intent's human rows."
            if params.max_intent_rows_vs_median is not None
            else "."
        ),
        "",
        "## Slices",
        "",
    ]
    slice_rows = []
    for name, figures in metrics["slices"].items():
        error_rate = figures["review_error_rate"]
        slice_rows.append([
            name + (" (critical)" if taxonomy.is_critical(name) else ""),
            figures["rows"], figures["human"], figures["synthetic"], f"{figures['synthetic_share']:.0%}",
            f"{figures['synthetic_reviewed_share']:.0%}",
            "-" if error_rate is None else f"{error_rate:.1%} (CI95 <= {figures['review_error_rate_ci95_high']:.1%})",
            "-" if figures["duplicate_rate"] is None else f"{figures['duplicate_rate']:.0%}",
        ])  # fmt: skip
    lines += _table(
        [
            "slice",
            "rows",
            "human",
            "synthetic",
            "synthetic share",
            "synthetic reviewed",
            "review error rate",
            "dup. rate",
        ],
        slice_rows,
    )
    lines += ["", "## Generators and templates (synthetic rows in the mix)", ""]
    lines += _table(["generator / model", "rows"], [[name, count] for name, count in sorted(generators.items())])
    lines += [""]
    lines += _table(["template", "rows"], [[name, count] for name, count in sorted(templates.items())])
    lines += ["", "## What the gates removed", ""]
    gate_rows = [
        ["generate: unusable outputs", upstream["generate"].get("rejected")],
        ["filter: rejected", upstream["filter"].get("rejected")],
        ["dedup: duplicates removed", upstream["dedup"].get("removed")],
        ["dedup: eval contamination", upstream["dedup"].get("eval_contamination")],
        ["review: rejected by reviewers", upstream["review"].get("rejected")],
    ]
    gate_rows += [[f"mix rule: {name}", count] for name, count in metrics["removed_by_rule"].items()]
    gate_rows += [[f"exclusion rule: {name}", count] for name, count in metrics["removed_by_exclusion"].items()]
    lines += _table(["gate", "rows"], gate_rows)
    filter_reasons = upstream["filter"].get("by_reason", {})
    if filter_reasons:
        lines += ["", "Filter rejections by check: " + ", ".join(f"{k} {v}" for k, v in sorted(filter_reasons.items()))]
    review = upstream["review"]
    lines += [
        "",
        "## Review coverage",
        "",
        f"{review.get('sampled', 0)} synthetic rows sampled for review, {review.get('reviewed', 0)} reviewed "
        f"({review.get('approved', 0)} approved, {review.get('edited', 0)} edited, "
        f"{review.get('rejected', 0)} rejected), {review.get('pending', 0)} awaiting review. "
        f"Flagged slices: {', '.join(review.get('flagged_slices', [])) or 'none'}.",
        "",
    ]
    return "\n".join(lines)
