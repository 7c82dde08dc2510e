"""What a rewording of a customer's words must keep: protected spans and negations.

Two stages use this: the built-in generator protects these spans from every transform, and the
filter's meaning check rejects a synthetic row whose user turns lost one of its seed's spans or
one of its negations, whoever wrote the row. The rules are plain English orthography, no domain words:

- protected spans: quoted phrases; codes and versions ("BA123", "v2.1"); numbers with what they
  count ("80 quid", "3 weeks", "£5,000", "2% fee"; a figure glued to its letters is whole alone: "6pm",
  "2nd", "20Mbps"); number words ("two"); dates and times of day
  (weekdays, months, "yesterday", "next week"); names and places (capitalised words that do not open a
  sentence, and acronyms such as "UK"); e-mail addresses and links. A span ends at a word's edge, never
  inside a word ("5 am" of "5 amazing" is "5 amazing").
- negations: not, no, never, nothing, nobody, none, nowhere, neither, nor, cannot, without, and
  every "n't" form, with or without its apostrophe ("don't", "dont").

A span is found again in another text by its key (`span_key`): the span cut into tokens (each run
of letters and digits is one token, each other mark such as + / % # × £ is a token of its own) after
casefolding; spacing, quote marks and apostrophes, hyphens and dashes, and the sentence marks . ! ? ; : ( )
only separate tokens. A span is kept when its tokens stand in a row in the other text's tokens, whatever
stands beside them: "18% GST" is kept in "₹799 +18% GST", "20Mbps" in "100Mbps/20Mbps". So casing,
spacing, quoting, hyphenation and sentence marks may change, but no word, figure or other mark may
("09:30" and "09.30" read alike; "£5,000" and "£5000", "2026/11/29" and "2026-11-29" do not).
"""

from __future__ import annotations

import re
import unicodedata
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
# Every currency sign of the Basic Multilingual Plane (Unicode category Sc: £ $ € ¥ ₹ ₩ ₽ ฿ ..., 57 signs; a
# 20 ms scan at import), so a figure keeps its currency whichever it is ("₩5000" is not "$5000").
_CURRENCY = re.escape("".join(c for c in map(chr, range(0x10000)) if unicodedata.category(c) == "Sc"))
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("quote", re.compile(r"\"[^\"\n]{1,120}\"|“[^”\n]{1,120}”|(?<![\w'])'[^'\n]{2,120}?'(?![\w])")),
    ("link", re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b|\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)),
    # flight numbers, references, versions: "BA123", "v2.1.3" ("2FA" below)
    ("code", re.compile(r"\b[A-Za-z]+\d[\w-]*(?:[.:/]\d[\w-]*)*")),
    (
        "number",
        re.compile(
            # A number glued to letters is one token, kept whole, and complete: its letters say what it
            # counts ("2nd", "4pm", "10k", "5G", "55GB", "3D"), so the next word is not taken ("20Mbps" of
            # "20Mbps please", "4pm" and the date "tomorrow" of "4pm tomorrow"). A bare figure, or one
            # with % or a currency sign, takes the word after it ("3 weeks", "6 pm", "2% fee", "5€ fee").
            rf"(?:[{_CURRENCY}]\s?)?\d(?:[\d,.:/]*\d)?(?:[a-z]+\b|[%{_CURRENCY}]?"
            rf"(?:\s?(?:am|pm)\b|\s?%|(?:\s|-)(?!(?:{_FUNCTION_WORDS})\b)[a-z]+)?)",
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
# What only separates tokens in a key (see the module docstring); every other mark is a token.
_KEY_BREAK = re.compile(r"[\s\"“”'‘’`\-‐‑–—.!?;:()]+")
_KEY_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w")


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


def _whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened to the edges of the words it cuts ("5 am" of "5 amazing", "4" of "4x4").

    A span then ends where a key's token does, so a text that keeps the word keeps the span.
    """
    while 0 < start < len(text) and _WORD.match(text, start - 1) and _WORD.match(text, start):
        start -= 1
    while 0 < end < len(text) and _WORD.match(text, end - 1) and _WORD.match(text, end):
        end += 1
    return start, end


def protected_spans(text: str) -> list[Span]:
    """The protected spans of `text`, in order, none overlapping (earlier patterns claim text first)."""
    taken = bytearray(len(text))
    found: list[Span] = []

    def claim(start: int, end: int, kind: str) -> None:
        while end > start and text[end - 1] in " ,.;:!?":
            end -= 1
        start, end = _whole_words(text, start, end)
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
    """The tokens of `text` joined by single spaces (module docstring): "₹799 +18% GST" -> "₹ 799 + 18 % gst".

    A token holds no space, so one key inside `f" {text_key} "` as `f" {key} "` is whole tokens in a row.
    """
    folded = unicodedata.normalize("NFC", text.casefold())
    return " ".join(_KEY_TOKEN.findall(_KEY_BREAK.sub(" ", folded)))


def text_key(text: str) -> str:
    """`span_key(text)` with a space either side, so `f" {span_key} " in text_key(...)` finds whole tokens."""
    return f" {span_key(text)} "


def span_keys(source: str) -> tuple[tuple[str, str], ...]:
    """(span as written in `source`, its key) of each protected span of `source` that has tokens (a quoted
    '":("' has none, so nothing to keep): what `missing_from` looks for."""
    source = unicodedata.normalize("NFC", source)  # the spans' edges fall where the keys' tokens do
    keyed = ((span.text, span_key(span.text)) for span in protected_spans(source))
    return tuple((span, key) for span, key in keyed if key)


def missing_from(keys: tuple[tuple[str, str], ...], text: str) -> list[str]:
    """The spans of `keys` (`span_keys` of a source) whose tokens `text` does not hold in a row."""
    haystack = text_key(text)
    return [span for span, key in keys if f" {key} " not in haystack]


def missing_spans(source: str, text: str) -> list[str]:
    """The protected spans of `source` (their text as written there) whose tokens `text` does not hold in a row."""
    return missing_from(span_keys(source), text)


def negation_count(text: str) -> int:
    """How many negations `text` holds ("can't" and "cannot" count once)."""
    return len(NEGATION.findall(text))


def is_negation(word: str) -> bool:
    """True for a negation word, with any punctuation around it ("don't," "never!")."""
    return bool(NEGATION.fullmatch(word.strip(",.;:!?\"'()")))
