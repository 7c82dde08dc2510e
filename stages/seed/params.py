"""Params of the seed stage: the `seed` section of params.yaml, the only place its defaults live."""

from __future__ import annotations

from pydantic import Field

from stages.core.params import Section


class SeedParams(Section):
    """`seed`: set-level rules for the expert seed files."""

    # Fewer training seeds for a taxonomy intent is an error naming the intents (0: no minimum); 3 lets
    # a cold start run: the filter's intent check and the mix work from 3 cases per intent (issue 11).
    min_cases_per_intent: int = Field(default=3, ge=0)
