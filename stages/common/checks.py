"""Filter checks: one small function per check, each returning None (keep) or a reason.

As in datatrove's filters, a check sees one row and answers keep-or-reason; the filter stage runs
the checks params switch on and writes every rejected row with all its reasons.
A reason is `code` or `code: detail`; metrics count by code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.common.errors import UserError
from stages.common.params import FilterParams
from stages.common.rows import assistant_text, conversation_text, schema_problem, user_text

Check = Callable[[dict[str, Any]], str | None]


def reason_code(reason: str) -> str:
    return reason.split(":", 1)[0]


def check_schema(row: dict[str, Any]) -> str | None:
    problem = schema_problem(row)
    return f"schema: {problem}" if problem else None


@dataclass(frozen=True)
class LengthCheck:
    """Character limits on the user side and the assistant side of the exchange."""

    min_user: int
    max_user: int
    min_assistant: int
    max_assistant: int

    def __call__(self, row: dict[str, Any]) -> str | None:
        for side, text, low, high in (
            ("user", user_text(row), self.min_user, self.max_user),
            ("assistant", assistant_text(row), self.min_assistant, self.max_assistant),
        ):
            if len(text) < low:
                return f"{side}_too_short: {len(text)} < {low} chars"
            if len(text) > high:
                return f"{side}_too_long: {len(text)} > {high} chars"
        return None


@dataclass(frozen=True)
class BlocklistCheck:
    """Rejects rows containing a blocked phrase (whole words, case-insensitive)."""

    pattern: re.Pattern[str] | None

    @classmethod
    def from_file(cls, path: Path) -> BlocklistCheck:
        return cls(compile_blocklist(read_blocklist(path)))

    def __call__(self, row: dict[str, Any]) -> str | None:
        if self.pattern is None:
            return None
        match = self.pattern.search(conversation_text(row))
        return f"blocklist: {match.group(0).lower()}" if match else None


def read_blocklist(path: Path) -> list[str]:
    """Phrases, one per line; blank lines and `#` comments ignored."""
    if not path.exists():
        raise UserError(f"{path}: blocklist file not found")
    phrases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        phrase = line.split("#", 1)[0].strip()
        if phrase:
            phrases.append(phrase)
    return phrases


def compile_blocklist(phrases: list[str]) -> re.Pattern[str] | None:
    if not phrases:
        return None
    alternatives = sorted((re.escape(p) for p in phrases), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def build_checks(params: FilterParams, blocklist_path: Path) -> list[tuple[str, Check]]:
    """The checks params switch on, in a fixed order."""
    available: dict[str, Callable[[], Check]] = {
        "schema": lambda: check_schema,
        "length": lambda: LengthCheck(
            params.min_user_chars, params.max_user_chars, params.min_assistant_chars, params.max_assistant_chars
        ),
        "blocklist": lambda: BlocklistCheck.from_file(blocklist_path),
    }
    return [(name, available[name]()) for name in available if name in params.checks]


def run_checks(row: dict[str, Any], checks: list[tuple[str, Check]]) -> list[str]:
    """All reasons to reject `row` (empty: keep). Schema failures stop the other checks."""
    reasons = []
    for name, check in checks:
        reason = check(row)
        if reason:
            reasons.append(reason)
            if name == "schema":
                break
    return reasons
