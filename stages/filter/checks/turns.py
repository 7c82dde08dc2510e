"""The turns check: every turn judged on its own, so a "..." turn cannot hide beside a real one.

The length check measures all user turns together; a weak teacher that copies the prompt's format
example ("...") into one turn of a two-turn conversation passes it. Here each turn must hold a
letter or digit, and reach its role's minimum length (seeds: user turns 22+ characters, assistant
turns 41+; a reply to a clarifying question such as "yes" is a real turn, so the user minimum is 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from stages.core.params import Section
from stages.filter.checks.base import Check, Row
from stages.filter.seeds import conversation_turns


class TurnsParams(Section):
    """`filter.turns`: the shortest user turn and the shortest assistant turn, in characters."""

    min_user_turn_chars: int = Field(default=2, ge=1)
    min_assistant_turn_chars: int = Field(default=20, ge=1)


@dataclass(frozen=True)
class TurnsCheck(Check):
    """Rejects a row with a wordless turn ("turn_empty: messages.2 (user) is '...'") or a too-short one."""

    name: ClassVar[str] = "turns"
    codes: ClassVar[tuple[str, ...]] = ("turn_empty", "turn_too_short")
    Params: ClassVar[type[Section]] = TurnsParams
    run_order: ClassVar[int] = 12

    params: TurnsParams

    def check(self, row: Row) -> str | None:
        """The first turn that is wordless or shorter than its role's minimum; None if every turn is fine."""
        for index, message in enumerate(conversation_turns(row)):
            content, role = message["content"].strip(), message["role"]
            if not any(char.isalnum() for char in content):
                return f"turn_empty: messages.{index} ({role}) is {content[:20]!r}"
            low = self.params.min_user_turn_chars if role == "user" else self.params.min_assistant_turn_chars
            if len(content) < low:
                return f"turn_too_short: messages.{index} ({role}) has {len(content)} < {low} chars"
        return None
