"""Params of the filter stage: the `filter` section of params.yaml, the only place its defaults live."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from stages.core.params import Section

FilterCheck = Literal[
    "schema", "length", "blocklist", "pii", "refusal", "ai_boilerplate", "language", "repetition", "policy_facts",
    "intent",
]  # fmt: skip
FILTER_CHECKS: tuple[str, ...] = FilterCheck.__args__  # type: ignore[attr-defined]


class FilterParams(Section):
    """Filter checks (stages/common/checks.py); each is switched on by listing it in `checks`."""

    checks: list[FilterCheck] = Field(default=list(FILTER_CHECKS))
    min_user_chars: int = Field(default=3, ge=0)
    max_user_chars: int = Field(default=800, ge=1)
    min_assistant_chars: int = Field(default=20, ge=0)
    max_assistant_chars: int = Field(default=1500, ge=1)
    pii_kinds: list[Literal["email", "phone", "card_number", "iban"]] = Field(
        default=["email", "phone", "card_number", "iban"], min_length=1
    )
    language_min_words: int = Field(default=6, ge=1)
    language_min_latin_share: float = Field(default=0.9, ge=0, le=1)
    repetition_max_duplicate_share: float = Field(default=0.5, gt=0, le=1)
    repetition_cross_turn_words: int = Field(default=5, ge=0)  # 0: off
    policy_facts_context: bool = True
    policy_action_claims: bool = True
    intent_margin: float = Field(default=0.4, gt=0, le=1)
    intent_min_probability: float = Field(default=0.0, ge=0, le=1)
    intent_min_seed_rows: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> FilterParams:
        if len(set(self.checks)) != len(self.checks):
            raise ValueError("checks: a check is listed twice")
        if self.min_user_chars > self.max_user_chars:
            raise ValueError(f"min_user_chars ({self.min_user_chars}) exceeds max_user_chars ({self.max_user_chars})")
        if self.min_assistant_chars > self.max_assistant_chars:
            raise ValueError(
                f"min_assistant_chars ({self.min_assistant_chars}) exceeds max_assistant_chars"
                f" ({self.max_assistant_chars})"
            )
        return self
