"""An offline grammar sanity check: a small set of English rules for errors no customer writes.

No grammar checker on PyPI works offline without a download: language-tool-python fetches a
LanguageTool server (Java, ~200 MB) on first use, proselint is a style linter, and spaCy or NLTK
need model or data downloads. So this is a small rule set, aimed at what a rule-based rewrite or a
weak model produces, and tuned not to fire on real customer text (typos, lower case, missing
apostrophes and dropped words are how people type, not errors here):

    repeated_word       "the the", "my my" (a doubled word, bar "that that" and "had had")
    broken_inversion    "Why has not it...", "Does not it..." (a question's contraction expanded)
    broken_contraction  "It is been", "Which's", "whose's", "I'm not" with a verb, "is been"
    agreement           "I is", "I has", "he have", "they is", "you was"
    article             "a apple", "an card" (sound-based, acronyms read letter by letter)
    phrasal_object      "set up it", "shut down it" (a pronoun goes between: "set it up")
    modal_to            "can to", "should to", "will to"
    quantifier          "a little of a rush" ("a bit of a" with "a little" swapped in: no one writes it;
                        "a little of the money" is English)
    dangling            a sentence ending on "the", "a", "my", "and"...
    filler_inside       a hesitation inside a phrase: "my um card", "the tbh account"
    empty_quote         "" or () with nothing inside, or an unclosed quote

Measured (tests/test_meaning_checks.py, BENCHMARKS.md): no rule fires on the repository's seed,
failure and eval turns; on the 13,083 real queries of the benchmarks' public data set, see
BENCHMARKS.md.
"""

from __future__ import annotations

import re

_PRONOUN = r"(?:it|i|you|he|she|we|they|this|that|there)"
_AUX = r"(?:has|have|had|does|do|did|is|are|was|were|can|could|would|should|will)"
_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("broken_inversion", re.compile(rf"(?:^|[.?!]\s+|\b(?:why|how|what|where|when)\s+){_AUX} not {_PRONOUN}\b", re.I)),
    ("broken_contraction", re.compile(r"\b(?:it|that|there|what|he|she) is been\b|\b(?:which|whose)'s\b", re.I)),
    ("broken_contraction", re.compile(r"\b(?:am|is|are|was|were) been\b|\bI'm (?:been|have|has|had)\b", re.I)),
    ("agreement", re.compile(r"\bI (?:is|are|has|does)\b", re.I)),
    (
        "phrasal_object",
        re.compile(
            r"\b(?:set|shut|close|call|turn|sort|pick|fill|switch|give|put|take|log|sign|"
            r"cancel|freeze|lock|top) (?:up|down|off|out|back) (?:it|them|him|her)\b",
            re.I,
        ),
    ),
    ("modal_to", re.compile(r"\b(?:can|could|will|would|should|must|might|may|shall) to\b", re.I)),
    ("quantifier", re.compile(r"\ba little of an?\b", re.I)),
    ("dangling", re.compile(r"\b(?:the|a|an|my|your|their|our|and|or)\s*[.!?]+(?:\s|$)", re.I)),
    ("filler_inside", re.compile(r"\b(?:the|a|an|my|your|to|of|in|for)\s+(?:um|erm|uh|idk|tbh)\s+\w", re.I)),
    ("empty_quote", re.compile(r"\"\s*\"|\(\s*\)|“\s*”")),
]
# Subject-verb pairs that disagree unless an auxiliary or "to" comes first ("does it have", "let it do").
_AGREEMENT = re.compile(r"\b(?:(?:he|she|it) (?:have|do|are|were)|(?:you|we|they) (?:is|has|does|was))\b", re.I)
_AGREEMENT_OK_BEFORE = frozenset(
    [
        "do",
        "did",
        "does",
        "can",
        "will",
        "would",
        "could",
        "should",
        "must",
        "may",
        "might",
        "to",
        "let",
        "make",
        "made",
    ]
)
_REPEAT = re.compile(r"\b(\w+)\s+(?=(\w+)\b)")
_REPEAT_OK = frozenset(["that", "had", "very", "so", "no", "bye", "ha", "really", "many", "far", "more", "ok", "up"])
_ARTICLE = re.compile(r"\b(a|an)\s+([A-Za-z][\w'-]*)", re.IGNORECASE)
# Words after "a" that start with a vowel letter but a consonant sound, and after "an" the reverse.
_A_VOWEL_OK = re.compile(r"^(?:u(?:ni|se|su|sa|ro|ti|k\b)|eu|one|once|ubi|ufo)", re.IGNORECASE)
_AN_CONSONANT_OK = re.compile(r"^(?:hour|honest|honou?r|heir|herb)", re.IGNORECASE)


def _article_problem(text: str) -> str | None:
    for match in _ARTICLE.finditer(text):
        article, word = match.group(1).lower(), match.group(2)
        if len(word) <= 3 or word.split("-")[0].isupper() or any(ch.isdigit() for ch in word):
            continue  # short words, acronyms ("a uk", "an ATM") and codes are read in ways spelling cannot tell
        vowel = word[0].lower() in "aeiou"
        if article == "a" and vowel and not _A_VOWEL_OK.match(word):
            return match.group(0)
        if article == "an" and not vowel and not _AN_CONSONANT_OK.match(word):
            return match.group(0)
    return None


def _repeat_problem(text: str) -> str | None:
    """A word said twice in a row, as a slip: not "that that", "up up to", a name ("Bora Bora") or "us US"."""
    for match in _REPEAT.finditer(text):
        first, second = match.group(1), match.group(2)
        if first.lower() != second.lower() or first.lower() in _REPEAT_OK:
            continue
        if first[1:] != second[1:] or (first[:1].isupper() and second[:1].isupper()):
            continue
        return match.group(0)
    return None


def _agreement_problem(text: str) -> str | None:
    for match in _AGREEMENT.finditer(text):
        before = text[: match.start()].split()
        if before and before[-1].lower().strip(",") in _AGREEMENT_OK_BEFORE:
            continue
        if re.match(r"\s+(?:to|got|been)\b", text[match.end() :]):  # "it have to", "he have got": dialect, not a slip
            continue
        return match.group(0)
    return None


def grammar_problems(text: str) -> list[str]:
    """'rule: "snippet"' for each rule `text` breaks (empty: none), rules in the order above."""
    found = []
    repeat = _repeat_problem(text)
    if repeat:
        found.append(f'repeated_word: "{repeat}"')
    for name, pattern in _RULES:
        match = pattern.search(text)
        if match:
            found.append(f'{name}: "{match.group(0).strip()}"')
    agreement = _agreement_problem(text)
    if agreement:
        found.append(f'agreement: "{agreement}"')
    article = _article_problem(text)
    if article:
        found.append(f'article: "{article}"')
    if text.count('"') % 2:
        found.append('empty_quote: an unclosed "')
    return found
