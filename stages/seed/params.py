"""Params of the seed stage: the `seed` section of params.yaml, the only place its defaults live."""

from __future__ import annotations

from pydantic import Field

from stages.core.params import Section


class SeedParams(Section):
    min_cases_per_intent: int = Field(default=1, ge=0)
