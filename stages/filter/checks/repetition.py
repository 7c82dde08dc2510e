"""The repetition check: degenerate loops within a turn, and template leftovers across user turns."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from stages.core.params import Section
from stages.core.text import words
from stages.filter.checks.base import Check, Row


class RepetitionParams(Section):
    """`filter.repetition`: how much a turn may repeat itself, and the run two user turns may not share."""

    max_duplicate_share: float = Field(default=0.5, gt=0, le=1)
    cross_turn_words: int = Field(default=5, ge=0)  # 0: off


@dataclass(frozen=True)
class RepetitionCheck(Check):
    """Degenerate loops and template leftovers.

    A turn of 20+ words where over `max_duplicate_share` of the word 3-grams repeat, a word typed 4 times
    running, or the same run of `cross_turn_words` words in two user turns (a template applied to every
    turn: "I'm travelling abroad at the moment and" opening the answer to a clarifying question). Replies
    are not compared across turns: an expert reply may rightly repeat a policy phrase.
    """

    name: ClassVar[str] = "repetition"
    Params: ClassVar[type[Section]] = RepetitionParams
    run_order: ClassVar[int] = 70

    params: RepetitionParams

    def check(self, row: Row) -> str | None:
        """`repetition: <problem> in <role> text`, or `repetition: two user turns share <run>`; else None."""
        by_role: dict[str, list[list[str]]] = {"user": [], "assistant": []}
        for message in row["messages"]:
            if message["role"] in by_role:
                tokens = words(message["content"])
                by_role[message["role"]].append(tokens)
                problem = self._within(tokens)
                if problem:
                    return f"repetition: {problem} in {message['role']} text"
        size = self.params.cross_turn_words
        shared = _shared_run(by_role["user"], size) if size else None
        return f"repetition: two user turns share {shared!r}" if shared else None

    def _within(self, tokens: list[str]) -> str | None:
        for index in range(len(tokens) - 3):
            if tokens[index] == tokens[index + 1] == tokens[index + 2] == tokens[index + 3]:
                return f"{tokens[index]!r} 4 times running"
        if len(tokens) >= 20:
            grams = Counter(zip(tokens, tokens[1:], tokens[2:], strict=False))
            repeated = sum(count for count in grams.values() if count > 1) / (len(tokens) - 2)
            if repeated > self.params.max_duplicate_share:
                return f"{repeated:.0%} of word 3-grams repeat"
        return None


def _shared_run(turns: list[list[str]], size: int) -> str | None:
    """The first run of `size` words found in two different turns, else None."""
    seen: dict[tuple[str, ...], int] = {}
    for turn_index, tokens in enumerate(turns):
        for start in range(len(tokens) - size + 1):
            gram = tuple(tokens[start : start + size])
            if seen.setdefault(gram, turn_index) != turn_index:
                return " ".join(gram)
    return None
