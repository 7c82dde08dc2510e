"""The refusal and ai_boilerplate checks: replies that decline to help, and model boilerplate or
generation leftovers ("as an AI", model names, "here's a rewritten version", template brackets)."""

from __future__ import annotations

import re
from typing import ClassVar

from stages.core.rows import assistant_text, conversation_text
from stages.filter.checks.base import Check, Row

# Replies that decline instead of helping: the policy's answer is in-app steps or a hand-over (7.4).
# Phrased so that "I'm afraid UK transfers can't be cancelled" (a policy fact) is not a refusal.
_REFUSAL = re.compile(
    r"\bI(?:'m| am) (?:sorry,? (?:but )?)?(?:not able|unable) to (?:help|assist)\b"
    r"|\bI (?:can(?:no|')t|cannot|won't) (?:help|assist) (?:you )?with (?:that|this|your (?:request|question))\b"
    r"|\bI(?:'m| am) (?:unable|not able) to (?:see|access|view) your\b"
    r"|\bthere(?:'s| is) nothing (?:more |further |else )?(?:I|we) can do\b"
    r"|\bis not responsible for\b"
    r"|\bI(?:'m| am) not (?:allowed|permitted|authori[sz]ed) to (?:help|discuss|answer)\b"
    r"|\bI (?:can(?:no|')t|cannot) (?:provide|discuss|answer) (?:that|this|any)\b",
    re.IGNORECASE,
)
# Model boilerplate and generation leftovers, in any turn: they must never reach training data.
# Matched on lowercased text, one pattern per phrase, each starting with a literal: Python's regex
# engine then scans for that literal fast (1.6x faster than one case-insensitive alternation).
_BOILERPLATE = [
    re.compile(pattern, re.MULTILINE)
    for pattern in (
        r"(?<!\w)as an? (?:ai|artificial intelligence|(?:ai |large )?language model|llm|ai assistant)\b",
        r"(?<!\w)i(?:'m| am) (?:just |only )?an? (?:ai|language model|large language model)\b",
        r"(?:openai|chatgpt|anthropic|gpt-?[345])",
        r"my (?:knowledge|training) (?:cut-?off|data)\b",
        r"(?<!\w)i (?:do not|don't) have (?:personal (?:opinions|experiences)|real-time|access to real-time)\b",
        r"^\s*(?:sure|certainly|of course|absolutely)[,!.]? here(?:'s| is| are)\b",
        r"here(?:'s| is| are) (?:a |an |the |some )?(?:rewritten|rephrased|paraphrased|revised|alternative)"
        r" (?:version|variation|message|reply|response|query)",
        # A template's unfilled slot, whatever the domain: "[Your Name]", "[company name]", "[order number]".
        r"\[(?:your|customer|agent|user|company|product)\]|\[(?:[a-z]+ ){0,2}(?:name|e-?mail|number|address|phone)\]",
        r"\{\{|\}\}|<\|[a-z_]+\|>",
    )
]


# A redaction as README ("Personal data in seeds") asks people to write one: a kind in capitals in square
# brackets, "[PHONE]", "[ACCOUNT NUMBER]". It is no template slot ("[Your Name]", "[phone number]"): those
# are still boilerplate, and a slot addressed to the writer ("[YOUR NAME]") stays one in capitals too.
# The built-in generator keeps it as it is (a word in capitals is a protected span, core.spans), and
# the meaning check rejects a variation that drops it.
REDACTION = re.compile(r"\[(?!YOUR\b)[A-Z]+(?: [A-Z]+)*\]")


def find_boilerplate(text: str) -> str | None:
    """The first boilerplate phrase in `text` (lowercased, trimmed), else None; redactions (`REDACTION`)
    are not boilerplate."""
    lowered = (REDACTION.sub(" ", text) if "[" in text else text).lower()
    for pattern in _BOILERPLATE:
        match = pattern.search(lowered)
        if match:
            return match.group(0).strip()
    return None


class RefusalCheck(Check):
    """Rejects a reply that declines to help ("refusal: 'I cannot help you with that'")."""

    name: ClassVar[str] = "refusal"
    run_order: ClassVar[int] = 40

    def check(self, row: Row) -> str | None:
        """`refusal: <the phrase>` for the first refusal in the assistant turns, else None."""
        match = _REFUSAL.search(assistant_text(row))
        return f"refusal: {match.group(0)!r}" if match else None


class AiBoilerplateCheck(Check):
    """Rejects model boilerplate or generation leftovers in any user or assistant turn."""

    name: ClassVar[str] = "ai_boilerplate"
    run_order: ClassVar[int] = 50

    def check(self, row: Row) -> str | None:
        """`ai_boilerplate: <phrase> in <role> text` for the first turn with one, else None."""
        if find_boilerplate(conversation_text(row)) is None:  # one scan for the common case
            return None
        for message in row["messages"]:
            if message["role"] != "system":
                found = find_boilerplate(message["content"])
                if found:
                    return f"ai_boilerplate: {found!r} in {message['role']} text{_slot_hint(found)}"
        return None


def _slot_hint(found: str) -> str:
    """For a template slot, how the same text is written as a redaction ("" for other boilerplate)."""
    if not found.startswith("[") or REDACTION.fullmatch(found.upper()) is None:
        return ""
    return f" (a template's unfilled slot; a redaction is written in capitals: {found.upper()!r})"
