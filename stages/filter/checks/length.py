"""The length check: character limits on the user side and the assistant side of the exchange."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field, model_validator

from stages.core.params import Section
from stages.core.rows import assistant_text, user_text
from stages.filter.checks.base import Check, Row


class LengthParams(Section):
    """`filter.length`: limits in characters on all user turns, and on all assistant turns, joined."""

    min_user_chars: int = Field(default=8, ge=0)
    max_user_chars: int = Field(default=600, ge=1)
    min_assistant_chars: int = Field(default=40, ge=0)
    max_assistant_chars: int = Field(default=1200, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LengthParams:
        for side in ("user", "assistant"):
            low, high = getattr(self, f"min_{side}_chars"), getattr(self, f"max_{side}_chars")
            if low > high:
                raise ValueError(f"min_{side}_chars ({low}) exceeds max_{side}_chars ({high})")
        return self


@dataclass(frozen=True)
class LengthCheck(Check):
    """Rejects a side of the exchange shorter or longer than its limits ("user_too_short: 2 < 8 chars")."""

    name: ClassVar[str] = "length"
    codes: ClassVar[tuple[str, ...]] = ("user_too_short", "user_too_long", "assistant_too_short", "assistant_too_long")
    Params: ClassVar[type[Section]] = LengthParams
    run_order: ClassVar[int] = 10

    params: LengthParams

    def check(self, row: Row) -> str | None:
        """The first limit the user side, then the assistant side, breaks; None within all four."""
        limits = self.params
        for side, text, low, high in (
            ("user", user_text(row), limits.min_user_chars, limits.max_user_chars),
            ("assistant", assistant_text(row), limits.min_assistant_chars, limits.max_assistant_chars),
        ):
            if len(text) < low:
                return f"{side}_too_short: {len(text)} < {low} chars"
            if len(text) > high:
                return f"{side}_too_long: {len(text)} > {high} chars"
        return None
