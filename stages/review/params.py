"""Params of the review stage: the `review` section of params.yaml, the only place its defaults live."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stages.core.params import Section


class ReviewParams(Section):
    """`review`: sampling rates (fractions in [0, 1]), caps in rows, and the error rate that flags a slice."""

    seed: int = 7
    critical_rate: float = Field(default=1.0, ge=0, le=1)
    default_rate: float = Field(default=0.1, ge=0, le=1)
    max_per_critical_slice: int = Field(default=150, ge=0)
    # Overall rows per run; critical slices are served first. None: no overall cap.
    budget_rows: int | None = Field(default=None, ge=0)
    # A slice is flagged when the upper end of its error rate's 95% interval exceeds this.
    flag_error_rate: float = Field(default=0.1, gt=0, le=1)
    # A decision whose id matches no row at all: "error" (typo, wrong file) or "warn" (count it,
    # e.g. while experimenting with generate params that replace rows).
    on_unknown_id: Literal["error", "warn"] = "error"
