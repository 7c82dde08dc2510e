"""The echo check: a turn that repeats the teacher's prompt instead of answering it.

A weak model copies back what it was shown: the answer format's example (`{"role": "user",
"content": "..."}`), the template's placeholders and section markers, or whole instructions
("Keep the same number of turns..."). Measured with a real 0.5B model on llama.cpp (issue 14):
7 of 20 answers copied the format example. A turn is rejected when it holds a JSON key of the
answer format, a `{{placeholder}}`, a `=== system ===` marker or a `<policy>`-style tag, or shares
a run of `ngram` words with a prompt template in prompts/ (placeholders left out). The expert seeds
share no 8-word run with the prompts (tests/test_meaning_checks.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from stages.core.errors import UserError
from stages.core.files import read_text
from stages.core.params import Section
from stages.core.text import words
from stages.filter.checks.base import Check, CheckInputs, Row
from stages.filter.seeds import conversation_turns

_FORMAT = re.compile(
    r"[\"']\s*(?:role|content|messages|reply)\s*[\"']\s*:|\{\{\s*\w+\s*\}\}|===\s*\w+\s*===|</?(?:policy|conversation)>",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"\{\{\s*\w+\s*\}\}")


class EchoParams(Section):
    """`filter.echo`: how many words in a row a turn may share with a prompt template (fewer pass)."""

    ngram: int = Field(default=8, ge=4, le=50)


def _grams(text: str, n: int) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


@dataclass(frozen=True)
class EchoCheck(Check):
    """Rejects a turn that repeats the prompt: "prompt_echo: messages.1 (assistant) repeats the answer format"."""

    name: ClassVar[str] = "echo"
    codes: ClassVar[tuple[str, ...]] = ("prompt_echo",)
    Params: ClassVar[type[Section]] = EchoParams
    run_order: ClassVar[int] = 14
    needs: ClassVar[str] = "no prompts folder"
    reads: ClassVar[frozenset[str]] = frozenset({"prompts"})

    params: EchoParams
    prompt_grams: frozenset[tuple[str, ...]]

    @classmethod
    def build(cls, params: EchoParams, inputs: CheckInputs) -> EchoCheck | None:
        """The check with the word n-grams of every prompts/*.md file (None without the folder)."""
        if inputs.prompts is None:
            return None
        folder = Path(inputs.prompts)
        if not folder.is_dir():
            raise UserError(f"{folder}: prompts folder not found (filter --prompts)")
        grams: set[tuple[str, ...]] = set()
        for path in sorted(folder.glob("*.md")):
            grams |= _grams(_PLACEHOLDER.sub(" ", read_text(path, "prompt template")), params.ngram)
        return cls(params, frozenset(grams))

    def check(self, row: Row) -> str | None:
        """The first turn that repeats the answer format or a run of prompt words; None if none does."""
        for index, message in enumerate(conversation_turns(row)):
            where = f"messages.{index} ({message['role']})"
            if _FORMAT.search(message["content"]):
                return f"prompt_echo: {where} repeats the answer format"
            shared = _grams(message["content"], self.params.ngram) & self.prompt_grams
            if shared:
                return f"prompt_echo: {where} repeats the prompt ('{' '.join(min(shared))}')"
        return None
