"""The blocklist check: phrases that must never appear in training data (seeds/blocklist.txt)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from stages.core.files import text_lines
from stages.core.rows import conversation_text
from stages.filter.checks.base import Check, CheckInputs, Row


def read_blocklist(path: Path) -> list[str]:
    """Phrases, one per line; blank lines and `#` comments ignored. A missing file or one that is not
    UTF-8 is a UserError (core.files)."""
    phrases = []
    for _, line in text_lines(path, "blocklist file"):
        phrase = line.split("#", 1)[0].strip()
        if phrase:
            phrases.append(phrase)
    return phrases


def compile_blocklist(phrases: list[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern matching any phrase as whole words (longest first); None for no phrases."""
    if not phrases:
        return None
    alternatives = sorted((re.escape(p) for p in phrases), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class BlocklistCheck(Check):
    """Rejects rows containing a blocked phrase in any turn ("blocklist: as an ai", lowercased)."""

    name: ClassVar[str] = "blocklist"
    run_order: ClassVar[int] = 20
    needs: ClassVar[str] = "no blocklist file"

    pattern: re.Pattern[str] | None

    @classmethod
    def build(cls, params: Any, inputs: CheckInputs) -> BlocklistCheck | None:
        """The check for the phrases of `inputs.blocklist` (None without one; a missing file is a UserError)."""
        return cls(compile_blocklist(read_blocklist(inputs.blocklist))) if inputs.blocklist else None

    def check(self, row: Row) -> str | None:
        """`blocklist: <phrase>` for the first blocked phrase found, else None."""
        if self.pattern is None:
            return None
        match = self.pattern.search(conversation_text(row))
        return f"blocklist: {match.group(0).lower()}" if match else None
