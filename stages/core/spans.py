"""What a rewording of a customer's words must keep: protected spans and negations.

Two stages use this: the built-in generator protects these spans from every transform, and the
filter's meaning check rejects a synthetic row whose user turns lost one of its seed's spans or
one of its negations, whoever wrote the row. The rules are plain English orthography, no domain words:

- protected spans: quoted phrases; codes ("BA123"); numbers with what they count ("80 quid", "3 weeks", "£5,000",
  "6pm", "2nd"); number words ("two"); dates and times of day (weekdays, months, "yesterday",
  "next week"); names and places (capitalised words that do not open a sentence, and acronyms
  such as "UK"); e-mail addresses and links.
- negations: not, no, never, nothing, nobody, none, nowhere, neither, nor, cannot, without, and
  every "n't" form, with or without its apostrophe ("don't", "dont").

A span is found again in another text by its key (`span_key`: casefolded, quotes and spacing
dropped), so casing and spacing may change but the words may not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER_WORDS = (
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|"
    "thousand|million|billion|half|twice|dozen"
)
WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
MONTHS = "january|february|march|april|june|july|august|september|october|november|december"
# "may" only capitalised (below): as a verb it is far more common.
_TIME_UNIT = r"(?:morning|afternoon|evening|night|day|week|weekend|fortnight|month|year|quarter)s?"
# Words after a number that are not what it counts ("£50 has gone", "3 to 5"), so not part of its span.
_FUNCTION_WORDS = (
    "and|or|but|to|the|a|an|of|in|on|at|for|is|it|i|has|have|had|was|were|are|be|been|will|would|can|could|"
    "should|from|with|by|into|this|that|my|your|so|yet|now|then|ago|if|as|when|which|who|still|just|gone"
)
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("quote", re.compile(r"\"[^\"\n]{1,120}\"|“[^”\n]{1,120}”|(?<![\w'])'[^'\n]{2,120}?'(?![\w])")),
    ("link", re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b|\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)),
    ("code", re.compile(r"\b[A-Za-z]+\d[\w-]*")),  # flight numbers, references: "BA123", "2FA" below
    (
        "number",
        re.compile(
            # A number glued to letters is one token, kept whole: "2nd", "4pm", "10k", "5G", "55GB", "3D".
            r"(?:[£$€¥₹]\s?)?\d(?:[\d,.:/]*\d)?(?:[a-z]+\b|%)?"
            rf"(?:\s?(?:am|pm|%)|(?:\s|-)(?!(?:{_FUNCTION_WORDS})\b)[a-z]+)?",
            re.IGNORECASE,
        ),
    ),
    ("number", re.compile(rf"\b(?:{NUMBER_WORDS})\b(?:(?:\s|-)(?:{_TIME_UNIT}|times|hours?|minutes?))?", re.I)),
    ("date", re.compile(rf"\b(?:last|next|this|every|past|coming)\s+(?:{WEEKDAYS}|{_TIME_UNIT})\b", re.I)),
    ("date", re.compile(rf"\b(?:{WEEKDAYS}|{MONTHS})s?\b|\bMay\b", re.IGNORECASE)),
    ("date", re.compile(r"\b(?:today|tonight|tomorrow|yesterday|weekend)\b", re.IGNORECASE)),
    ("acronym", re.compile(r"\b[A-Z]{2,}s?\b")),
]
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[-'][A-Za-z]+)?(?:\s+[A-Z][a-z]+)*\b")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*|[\"“(]\s*)$")
_NOT_NAMES = frozenset({"I", "I'm", "I've", "I'd", "I'll", "OK", "Ok"})
NEGATION = re.compile(
    r"\b(?:not|no|never|nothing|nobody|none|nowhere|neither|nor|cannot|without)\b"
    r"|\b(?:do|does|did|is|are|was|were|have|has|had|ca|can|could|would|should|wo|must|need|ai|might)n'?t\b"
    r"|n['’]t\b",
    re.IGNORECASE,
)
_KEY_DROP = re.compile(r"[\"“”'’`]")
_KEY_SPACE = re.compile(r"[\s\-–]+")


@dataclass(frozen=True)
class Span:
    """A protected span: character offsets [start, end) in its text, its kind and its text."""

    start: int
    end: int
    kind: str
    text: str


def _sentence_initial(text: str, start: int) -> bool:
    """True when the word at `start` opens a sentence (so its capital says nothing)."""
    return bool(_SENTENCE_START.search(text[max(0, start - 4) : start])) or start == 0


def protected_spans(text: str) -> list[Span]:
    """The protected spans of `text`, in order, none overlapping (earlier patterns claim text first)."""
    taken = bytearray(len(text))
    found: list[Span] = []

    def claim(start: int, end: int, kind: str) -> None:
        while end > start and text[end - 1] in " ,.;:!?":
            end -= 1
        if end > start and not any(taken[start:end]):
            taken[start:end] = b"\x01" * (end - start)
            found.append(Span(start, end, kind, text[start:end]))

    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            if kind == "number" and not any(ch.isalnum() for ch in match.group(0)):
                continue
            claim(match.start(), match.end(), kind)
    for match in _NAME.finditer(text):
        if match.group(0) in _NOT_NAMES:
            continue
        start = match.start()
        if _sentence_initial(text, start):
            # A capitalised opener is no evidence, but the capitalised words after it are ("Hong Kong").
            rest = match.group(0).split(None, 1)
            if len(rest) < 2:
                continue
            start = match.start() + match.group(0).index(rest[1])
        claim(start, match.end(), "name")
    return sorted(found, key=lambda span: span.start)


def span_key(text: str) -> str:
    """How a span is compared: casefolded, without quote marks, hyphens and spacing runs as one space."""
    return _KEY_SPACE.sub(" ", _KEY_DROP.sub("", text.casefold())).strip()


def text_key(text: str) -> str:
    """`text` normalised as spans are, with spaces around it, so `f" {span_key} "` finds whole words."""
    return f" {_KEY_SPACE.sub(' ', _KEY_DROP.sub('', text.casefold()))} ".replace(",", " , ")


# Marks that end a word without being part of it: sentence punctuation, and brackets, so that a
# redaction ("[PHONE]", "<NAME>") is found as the word it holds.
_SPAN_BREAK = re.compile(r"[.!?;:()\[\]<>{}]")


def missing_spans(source: str, text: str) -> list[str]:
    """The protected spans of `source` that `text` does not contain (as written in `source`)."""
    haystack = _SPAN_BREAK.sub(" ", text_key(text))
    haystack = _KEY_SPACE.sub(" ", haystack)
    missing = []
    for span in protected_spans(source):
        key = _SPAN_BREAK.sub(" ", span_key(span.text)).strip()
        if key and f" {key} " not in haystack and f" {key.replace(',', ' , ')} " not in haystack:
            missing.append(span.text)
    return missing


def negation_count(text: str) -> int:
    """How many negations `text` holds ("can't" and "cannot" count once)."""
    return len(NEGATION.findall(text))


def is_negation(word: str) -> bool:
    """True for a negation word, with any punctuation around it ("don't," "never!")."""
    return bool(NEGATION.fullmatch(word.strip(",.;:!?\"'()")))
