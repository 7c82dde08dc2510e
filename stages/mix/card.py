"""The data card written beside each mix (data/mix/CARD.md): what is in this version and how it was made.

Sections: a header (params hash, input hashes, composition and the rules in force), the files and their
formats (the DPO pairs' prompts open with the same system turn as the fine-tuning lines), a table per slice,
the generators and templates of the synthetic rows, each template's variety (collapsed or not), what
each gate removed, and review coverage.
Every figure comes from the mix rows, metrics/mix.json or the upstream stages' metrics files.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from stages.core.params import Taxonomy
from stages.mix.finetune import card_lines
from stages.mix.params import MixParams

Row = dict[str, Any]
SLICE_COLUMNS = [
    "slice", "rows", "human", "synthetic", "synthetic share", "synthetic reviewed", "review error rate", "dup. rate",
]  # fmt: skip


@dataclass(frozen=True)
class CardInputs:
    """What the card reports on.

    mixed: the mix rows (with `split`); metrics: metrics/mix.json as written; upstream: metrics of
    generate, filter, dedup and review by stage name ({} for a missing file); params and params_hash:
    the `mix` section and its `section_hash`; input_hashes: input path -> sha256 prefix.
    """

    mixed: list[Row]
    metrics: dict[str, Any]
    upstream: dict[str, dict[str, Any]]
    params: MixParams
    params_hash: str
    taxonomy: Taxonomy
    input_hashes: dict[str, str]


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return lines


def _header(card: CardInputs) -> list[str]:
    metrics, params = card.metrics, card.params
    hashes = ", ".join(f"`{path}` sha256 `{digest}`" for path, digest in sorted(card.input_hashes.items()))
    approval = ", and only reviewer-approved there" if params.critical_requires_approval else ""
    balance = (
        f"; no intent above {params.max_intent_rows_vs_median:g}x the median intent's human rows."
        if params.max_intent_rows_vs_median is not None
        else "."
    )
    return [
        "# Data card",
        "",
        f"Mix params hash `{card.params_hash}`; inputs {hashes}. The git commit whose dvc.lock lists this card"
        " is its revision: the card names content hashes rather than a commit so that a rebuild is byte-identical.",
        f"{metrics['rows']} rows: {metrics['human']} human ({metrics['human_share']:.0%}), "
        f"{metrics['synthetic']} synthetic; {metrics['train']} train / {metrics['eval']} eval, split by seed lineage. "
        f"Rules: human share >= {params.min_human_share:.0%}; synthetic <= {params.max_synthetic_share_critical:.0%} "
        f"of each critical slice{approval}{balance}",
        "",
    ]


def _files(card: CardInputs) -> list[str]:
    """What each file of data/mix holds, with its count (metrics/mix.json)."""
    metrics = card.metrics
    from_failures = metrics.get("failure_pairs", {}).get("kept", 0)
    from_teacher = metrics.get("teacher_pairs", {}).get("kept", 0)
    by_split = metrics.get("preference_pairs_by_split", {})
    return [
        "## Files",
        "",
        f"- `train.jsonl` ({metrics['train']} lines) and `eval.jsonl` ({metrics['eval']} lines): OpenAI's chat"
        " fine-tuning format; every line opens with the domain's system prompt (`seeds/domain.yaml`).",
        f"- `preferences.jsonl` ({by_split.get('train', 0)} DPO pairs) and `preferences_eval.jsonl`"
        f" ({by_split.get('eval', 0)}), {metrics.get('preference_pairs', 0)} in all: {from_failures} from logged"
        f" failures, {from_teacher} from teacher pairs, each on its seed lineage's side as the fine-tuning lines"
        " are (no held-out conversation is trained on); TRL's conversational preference format; `prompt` is the"
        " conversation's fine-tuning line before its reply, the same system turn first; `chosen` and `rejected`"
        " one assistant message each.",
        "- `rows.jsonl`: the mix rows with their metadata and split; `removed.jsonl`: every row a rule removed,"
        " with its reason.",
        "",
    ]


def _slices(card: CardInputs) -> list[str]:
    rows = []
    for name, figures in card.metrics["slices"].items():
        error_rate = figures["review_error_rate"]
        rows.append([
            name + (" (critical)" if card.taxonomy.is_critical(name) else ""),
            figures["rows"], figures["human"], figures["synthetic"], f"{figures['synthetic_share']:.0%}",
            f"{figures['synthetic_reviewed_share']:.0%}",
            "-" if error_rate is None else f"{error_rate:.1%} (CI95 <= {figures['review_error_rate_ci95_high']:.1%})",
            "-" if figures["duplicate_rate"] is None else f"{figures['duplicate_rate']:.0%}",
        ])  # fmt: skip
    return ["## Slices", "", *_table(SLICE_COLUMNS, rows)]


def _generators(card: CardInputs) -> list[str]:
    synthetic = [row["provenance"] for row in card.mixed if row["source"] == "synthetic"]
    generators = Counter(f"{p['generator']} {p['generator_version']} / {p['model']}" for p in synthetic)
    templates = Counter(p["template_id"] for p in synthetic)
    return [
        "",
        "## Generators and templates (synthetic rows in the mix)",
        "",
        *_table(["generator / model", "rows"], [[name, count] for name, count in sorted(generators.items())]),
        "",
        *_table(["template", "rows"], [[name, count] for name, count in sorted(templates.items())]),
    ]


def _variety(card: CardInputs) -> list[str]:
    """Per template, the generate stage's variety figures and whether it collapsed (metrics/generate.json)."""
    variety = card.upstream["generate"].get("variety", {})
    if not variety:
        return []
    rows = [
        [name, figures["rows"], figures.get("distinct_2"), figures.get("mean_pairwise_similarity"),
         f"{figures['top_opening_share']:.0%}", "; ".join(figures["why"]) or "no"]
        for name, figures in sorted(variety.items())
    ]  # fmt: skip
    header = ["template", "generated rows", "distinct-2", "mean pairwise similarity", "top opening", "collapsed"]
    return ["", "## Variety per template (generate)", "", *_table(header, rows)]


def _gates(card: CardInputs) -> list[str]:
    upstream, metrics = card.upstream, card.metrics
    rows = [
        ["generate: unusable outputs", upstream["generate"].get("rejected")],
        ["filter: rejected", upstream["filter"].get("rejected")],
        ["dedup: duplicates removed", upstream["dedup"].get("removed")],
        ["dedup: eval contamination", upstream["dedup"].get("eval_contamination")],
        ["review: rejected by reviewers", upstream["review"].get("rejected")],
    ]
    rows += [[f"mix rule: {name}", count] for name, count in metrics["removed_by_rule"].items()]
    rows += [[f"exclusion rule: {name}", count] for name, count in metrics["removed_by_exclusion"].items()]
    lines = ["", "## What the gates removed", "", *_table(["gate", "rows"], rows)]
    filter_reasons = upstream["filter"].get("by_reason", {})
    if filter_reasons:
        lines += ["", "Filter rejections by check: " + ", ".join(f"{k} {v}" for k, v in sorted(filter_reasons.items()))]
    return lines


def _review(card: CardInputs) -> list[str]:
    review = card.upstream["review"]
    return [
        "",
        "## Review coverage",
        "",
        f"{review.get('sampled', 0)} synthetic rows sampled for review, {review.get('reviewed', 0)} reviewed "
        f"({review.get('approved', 0)} approved, {review.get('edited', 0)} edited, "
        f"{review.get('rejected', 0)} rejected), {review.get('pending', 0)} awaiting review. "
        f"Flagged slices: {', '.join(review.get('flagged_slices', [])) or 'none'}.",
        "",
    ]


def render_card(card: CardInputs) -> str:
    """The data card as Markdown text, ending with a newline."""
    tuning = card_lines(card.metrics["fine_tuning"]) if "fine_tuning" in card.metrics else []
    sections = [
        *_header(card),
        *_files(card),
        *_slices(card),
        *_generators(card),
        *_variety(card),
        *_gates(card),
        *tuning,
    ]
    return "\n".join([*sections, *_review(card)])
