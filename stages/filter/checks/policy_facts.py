"""The policy_facts check: figures and claims in assistant replies checked against the written policy.

A figure is a number with what it counts: "£7", "0.5%", "4pm", "3 to 5 working days", "24 hours", or a
bare count ("3 failed attempts" -> 3). Replies are rejected for
- a figure the policy never states ("£3 cancellation fee", "within 60 days", "16-digit");
- with `context` on, a figure the policy states only in paragraphs about other things: each policy
  paragraph (and each line of its `## Facts` list) gives its figures a set of topic words, and a reply
  must share at least one with one of them ("£10" is the minimum top-up, not an account-closing fee);
- with `action_claims` on, a claim to have done something to the account ("I've refunded", "I've
  cancelled the transfer"): the assistant can only give in-app steps and hand over (policy 7.2, 7.4).
Numbers the customer wrote in the same conversation may be repeated ("as 3 weeks have passed"), even
when their unit word is misspelt there ("3 weesk ago").
Measured on the repository's 368 expert replies: none rejected; of the 45 logged bad replies of
seeds/failures.jsonl, 19 rejected (tests/test_filter.py keeps both figures true).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from stages.core.errors import UserError
from stages.core.files import read_text
from stages.core.params import Section
from stages.core.rows import assistant_text, user_text
from stages.filter.checks.base import Check, CheckInputs, Row

Figure = tuple[object, ...]  # (unit, value) or (unit, low, high); unit "" for bare counts

UNITS = {
    "working day": "working day", "working days": "working day", "business day": "working day",
    "business days": "working day", "day": "day", "days": "day", "hour": "hour", "hours": "hour",
    "hr": "hour", "hrs": "hour", "minute": "minute", "minutes": "minute", "min": "minute", "mins": "minute",
    "week": "week", "weeks": "week", "month": "month", "months": "month", "calendar month": "month",
    "calendar months": "month", "year": "year", "years": "year",
}  # fmt: skip
NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    )
}
NUMBER_WORDS |= {"eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty-five": 45, "sixty": 60}
_NUMBER = r"(?:\d[\d,]*(?:\.\d+)?|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_UNIT = r"(?:" + "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True)) + r")"
# Earlier patterns claim their text first: "£5,000" is money, not the count 5.
_FIGURES: list[tuple[str, re.Pattern[str]]] = [
    ("always", re.compile(r"\b24\s?/\s?7\b")),
    ("time", re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?(am|pm)\b", re.IGNORECASE)),
    ("money", re.compile(r"([£$€])\s?(\d[\d,]*(?:\.\d+)?)(k\b)?", re.IGNORECASE)),
    ("percent", re.compile(r"(\d+(?:\.\d+)?)\s?(?:%|per ?cent\b)", re.IGNORECASE)),
    ("range", re.compile(rf"\b({_NUMBER})\s?(?:to|-|–|or)\s?({_NUMBER})(?:\s|-)({_UNIT})\b", re.IGNORECASE)),
    ("duration", re.compile(rf"\b({_NUMBER})(?:\s|-)({_UNIT})\b", re.IGNORECASE)),
    ("count", re.compile(r"(?<![\w.,£$€])(\d+(?:\.\d+)?)(?![\w%]|[.,]\d)")),
]
_DIGITS = re.compile(r"\d[\d,]*(?:\.\d+)?")
_ANY_NUMBER = re.compile(r"\d|\b(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_ACTION_CLAIM = re.compile(
    r"\b(?:I(?:'ve| have)|we(?:'ve| have))\s+(?:just\s+|already\s+|now\s+)?"
    r"(refunded|cancell?ed|reversed|ordered|blocked|increased|raised|processed|contacted|credited|waived|"
    r"unblocked|unlocked|activated|closed|approved|restored|released|deleted|upgraded)\b",
    re.IGNORECASE,
)
_STOPWORDS = frozenset(
    [
        "a", "an", "the", "and", "or", "but", "if", "then", "so", "of", "to", "in", "on", "at", "by", "for", "with",
        "from", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those",
        "there", "here", "you", "your", "yours", "we", "our", "us", "i", "me", "my", "they", "them", "their", "he",
        "she", "his", "her", "not", "no", "yes", "can", "cannot", "can't", "will", "would", "should", "could", "may",
        "might", "must", "do", "does", "did", "done", "have", "has", "had", "up", "down", "out", "over", "under",
        "again", "once", "only", "also", "just", "than", "too", "very", "more", "most", "less", "least", "any", "all",
        "each", "both", "few", "other", "some", "such", "own", "same", "into", "about", "after", "before", "within",
        "until", "while", "when", "where", "why", "how", "what", "which", "who", "whom", "per"
    ]
)  # fmt: skip
_WORD = re.compile(r"[a-z]+")
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")


def _number(text: str) -> float:
    """A number as written ("5,000", "0.5", "three") as a float."""
    text = text.lower().replace(",", "")
    return float(NUMBER_WORDS[text]) if text in NUMBER_WORDS else float(text)


def figures(text: str) -> list[tuple[Figure, str]]:
    """(figure, as written) for every figure in `text`, in order."""
    if not _ANY_NUMBER.search(text):  # most sentences: skip the seven patterns
        return []
    taken = bytearray(len(text))
    found: list[tuple[int, Figure, str]] = []
    for kind, pattern in _FIGURES:
        for match in pattern.finditer(text):
            if any(taken[match.start() : match.end()]):
                continue
            figure = _figure(kind, match)
            taken[match.start() : match.end()] = b"\x01" * (match.end() - match.start())
            found.append((match.start(), figure, match.group(0)))
    return [(figure, written) for _, figure, written in sorted(found, key=lambda item: item[0])]


def _figure(kind: str, match: re.Match[str]) -> Figure:
    if kind == "always":
        return ("24/7",)
    if kind == "time":
        hour = int(match.group(1)) % 12 + (12 if match.group(3).lower() == "pm" else 0)
        return ("time", hour * 60 + int(match.group(2) or 0))
    if kind == "money":
        return (match.group(1), _number(match.group(2)) * (1000 if match.group(3) else 1))
    if kind == "percent":
        return ("%", _number(match.group(1)))
    if kind == "range":
        return (UNITS[match.group(3).lower()], _number(match.group(1)), _number(match.group(2)))
    if kind == "duration":
        return (UNITS[match.group(2).lower()], _number(match.group(1)))
    return ("", _number(match.group(1)))


def topic_words(text: str) -> frozenset[str]:
    """Content words (no stopwords, units or numbers; plural s dropped) naming what a text is about."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS or word in UNITS or word in NUMBER_WORDS or len(word) < 3:
            continue
        found.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return frozenset(found)


@dataclass
class PolicyFacts:
    """Every figure of the policy, each with the topic words of the paragraphs (or Facts lines) it is in."""

    topics: dict[Figure, list[frozenset[str]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def from_text(cls, policy: str) -> PolicyFacts:
        """The facts of a policy document's text (Markdown; paragraphs split by blank lines)."""
        facts = cls()
        for paragraph in re.split(r"\n\s*\n", policy):
            paragraph_topics = topic_words(paragraph)
            for line in paragraph.splitlines():
                # a Facts line ("- dispute window: 120 days") is its own topic; body lines share the paragraph's
                line_topics = topic_words(line) if line.lstrip().startswith("- ") else paragraph_topics
                for figure, _ in figures(line):
                    facts.topics[figure].append(line_topics)
        return facts

    @classmethod
    def from_file(cls, path: Path) -> PolicyFacts:
        """The facts of a policy file; UserError if it is missing or states no figure."""
        if not path.exists():
            raise UserError(f"{path}: policy file not found")
        facts = cls.from_text(read_text(path, "policy file"))
        if not facts.topics:
            raise UserError(f"{path}: no figures found in the policy: is this the policy document?")
        return facts

    def problem(self, reply: str, customer_text: str, context: bool, action_claims: bool) -> str | None:
        """Why `reply` states something the policy does not, or None."""
        claim, stated, reply_topics = _analyse(reply)
        if action_claims and claim:
            return f"claims an account action the assistant cannot take ({claim!r})"
        # numbers the customer typed, whatever follows them: "3 weesk ago" still lets the reply say "3 weeks"
        echoed = {_number(number) for number in _DIGITS.findall(customer_text)} if stated else set()
        for figure, written in stated:
            values = [value for value in figure[1:] if isinstance(value, float)]
            if values and all(value in echoed for value in values):
                continue
            known = self.topics.get(figure)
            if known is None:
                return f"{written!r} is not a figure the policy states"
            if context and not any(reply_topics & topics for topics in known):
                return f"{written!r} is in the policy only for other topics"
        return None


@lru_cache(maxsize=65_536)
def _analyse(reply: str) -> tuple[str | None, list[tuple[Figure, str]], frozenset[str]]:
    """A reply's action claim, figures and topic words; cached, as many rows share one reply."""
    claim = _ACTION_CLAIM.search(reply)
    stated = [found for sentence in _SENTENCE.split(reply) for found in figures(sentence)]
    return (claim.group(0) if claim else None), stated, (topic_words(reply) if stated else frozenset())


class PolicyFactsParams(Section):
    """`filter.policy_facts`: the two rules beyond "the policy states this figure somewhere"."""

    context: bool = True  # a figure must appear in a policy paragraph on the reply's topic
    action_claims: bool = True  # "I've refunded...": the assistant cannot act on the account


@dataclass(frozen=True)
class PolicyFactsCheck(Check):
    """Rejects replies stating figures or account actions the policy does not support (module docstring)."""

    name: ClassVar[str] = "policy_facts"
    Params: ClassVar[type[Section]] = PolicyFactsParams
    run_order: ClassVar[int] = 80
    needs: ClassVar[str] = "no policy file"

    policy: PolicyFacts
    params: PolicyFactsParams

    @classmethod
    def build(cls, params: PolicyFactsParams, inputs: CheckInputs) -> PolicyFactsCheck | None:
        """The check against `inputs.policy` (None without one; a bad file is a UserError)."""
        return cls(PolicyFacts.from_file(inputs.policy), params) if inputs.policy else None

    def check(self, row: Row) -> str | None:
        """`policy_facts: <what the policy does not support>` for the assistant turns, else None."""
        problem = self.policy.problem(
            assistant_text(row), user_text(row), self.params.context, self.params.action_claims
        )
        return f"policy_facts: {problem}" if problem else None
