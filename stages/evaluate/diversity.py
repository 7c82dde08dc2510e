"""The diversity figures of metrics/evaluate.json: synthetic and human user turns, overall, per slice and
per template (the meter and the figures' definitions: stages/core/diversity.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stages.core.diversity import DiversityMeter, distinct_n
from stages.core.params import Taxonomy
from stages.core.rows import user_text

__all__ = ["DiversityMeter", "distinct_n", "diversity_figures"]  # the meter lives in core; kept importable here


def _texts(rows: list[dict[str, Any]]) -> list[str]:
    return [user_text(row) for row in rows]


def diversity_figures(
    synthetic: list[dict[str, Any]], human: list[dict[str, Any]], eval_texts: Sequence[str], taxonomy: Taxonomy
) -> dict[str, Any]:
    """`diversity` of metrics/evaluate.json: the figures of the synthetic rows' user turns and of the
    human rows' beside them, overall and per taxonomy slice, and of the synthetic rows per template
    (`provenance.template_id`, sorted). One TF-IDF space, fitted on all rows and `eval_texts`."""
    meter = DiversityMeter(_texts(synthetic + human), eval_texts)
    result: dict[str, Any] = {"synthetic": meter.figures(_texts(synthetic)), "human": meter.figures(_texts(human))}
    result["slices"] = {
        name: {
            "synthetic": meter.figures(_texts([r for r in synthetic if r["slice"] == name])),
            "human": meter.figures(_texts([r for r in human if r["slice"] == name])),
        }
        for name in taxonomy.slices
    }
    templates = sorted({row["provenance"]["template_id"] for row in synthetic})
    result["templates"] = {
        name: meter.figures(_texts([r for r in synthetic if r["provenance"]["template_id"] == name]))
        for name in templates
    }
    return result
