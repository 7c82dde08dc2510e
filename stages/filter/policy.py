"""The policy document as the policy_facts check reads it: sections, their topics and their figures.

A policy is Markdown. Its units are its paragraphs (blank-line separated; a paragraph that starts with a
rule number such as "4.7" is that rule, `ref` "4.7") and the lines of lists ("- dispute window: 120
days"), each its own unit. A unit's topic words are its content words plus those of the `#` heading
it sits under. Every figure (stages/filter/figures.py) a unit states is indexed to it.

Which units is a reply about? Each unit is scored against the sentence that states a figure and, at
`REPLY_WEIGHT`, the rest of the reply: the summed inverse document frequency (over units) of the topic
words they share, so "card" (in many units) weighs little and "dispute" (in few) much. A figure is on
topic when a unit that states it scores at least `MIN_SHARE` of the best unit's score: "within 7 days"
in a reply about refunds is caught when 7 days is the policy's figure for another matter, even if that
other paragraph shares a word with the reply. Both constants were chosen on the bank example (no expert
reply rejected, most swapped figures caught: BENCHMARKS.md, issue 11).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import snowballstemmer

from stages.core.errors import UserError
from stages.core.files import read_text
from stages.filter.dates import MONTHS
from stages.filter.figures import NUMBER_WORDS, UNITS, Figure, figures, implied, is_rate, readings

REPLY_WEIGHT = 0.3  # weight of the rest of the reply's topic words beside the figure's own sentence
MIN_SHARE = 0.5  # a unit stating the figure must score this share of the best unit's score
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
_RULE = re.compile(r"^\s*(?:\*\*)?(\d+(?:\.\d+)+)\b")
_HEADING = re.compile(r"^\s*#+\s+(.*)$")
_LIST_ITEM = re.compile(r"^\s*[-*+]\s+")
# words that say no topic: stopwords, units, number words and month names (a date says when, not what about)
_NOT_TOPICS = _STOPWORDS | frozenset(UNITS) | frozenset(NUMBER_WORDS) | frozenset(month.lower() for month in MONTHS)


_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """The Snowball (Porter 2) stem of a lower-case word, a final "i" dropped ("expiry" and "expires": "expir")."""
    stemmed: str = _STEMMER.stemWord(word)
    return stemmed[:-1] if stemmed.endswith("i") and len(stemmed) > 3 else stemmed


def topic_words(text: str) -> frozenset[str]:
    """Stems of the content words (no stopwords, units, numbers or month names) naming what a text is about."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if word in _NOT_TOPICS or len(word) < 3:
            continue
        found.add(stem(word))
    return frozenset(found)


@dataclass(frozen=True)
class PolicyUnit:
    """A paragraph or list line of the policy: its rule number (None if it has none), topic words and figures."""

    ref: str | None
    topics: frozenset[str]
    figures: frozenset[Figure]


def policy_units(policy: str) -> list[PolicyUnit]:
    """The units of a policy's text, in order (module docstring)."""
    units: list[PolicyUnit] = []
    heading: frozenset[str] = frozenset()
    for paragraph in re.split(r"\n\s*\n", policy):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        body: list[str] = []
        for line in lines:
            title = _HEADING.match(line)
            if title:
                heading = topic_words(title.group(1))
            elif _LIST_ITEM.match(line):
                units.append(PolicyUnit(None, topic_words(line) | heading, _figures_of(line)))
            else:
                body.append(line)
        if body:
            text = " ".join(body)
            rule = _RULE.match(text)
            stated = _figures_of(text[rule.end() :] if rule else text)  # the rule's number is not a figure
            units.append(PolicyUnit(rule.group(1) if rule else None, topic_words(text) | heading, stated))
    return units


def _figures_of(text: str) -> frozenset[Figure]:
    """The figures a text states, with what each implies (figures.implied: a rate's count, a date's forms)."""
    return frozenset(form for figure, _ in figures(text) for form in implied(figure))


@dataclass
class PolicyFacts:
    """The policy's units, the inverse document frequency of their topic words, and the units stating each figure."""

    units: list[PolicyUnit]
    idf: dict[str, float] = field(init=False)
    stating: dict[Figure, list[int]] = field(init=False)
    having: dict[str, list[int]] = field(init=False)  # topic word: the units that have it
    rate_counts: frozenset[object] = field(init=False)  # the counts the policy states per time unit
    # the last reply's unit scores: the figures of one sentence are checked one after another
    _scored: tuple[frozenset[str], frozenset[str], dict[int, float], int] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Index the units: idf = ln((1 + units) / (1 + units with the word)) + 1, as scikit-learn's smooth idf."""
        frequency = Counter(word for unit in self.units for word in unit.topics)
        total = len(self.units)
        self.idf = {word: math.log((1 + total) / (1 + count)) + 1 for word, count in frequency.items()}
        self.stating = defaultdict(list)
        self.having = defaultdict(list)
        for index, unit in enumerate(self.units):
            for figure in unit.figures:
                self.stating[figure].append(index)
            for word in unit.topics:
                self.having[word].append(index)
        self.rate_counts = frozenset(figure[1] for figure in self.stating if is_rate(figure))

    @classmethod
    def from_text(cls, policy: str) -> PolicyFacts:
        """The facts of a policy document's text."""
        return cls(policy_units(policy))

    @classmethod
    def from_file(cls, path: Path) -> PolicyFacts:
        """The facts of a policy file; UserError if it is missing or states no figure."""
        facts = cls.from_text(read_text(path, "policy file"))  # a missing file: "<path>: policy file not found"
        if not facts.stating:
            raise UserError(f"{path}: no figures found in the policy: is this the policy document?")
        return facts

    def supporting(self, figure: Figure) -> tuple[Figure, ...]:
        """The stated figures that back a reply's `figure` (none: the policy does not state it): the figure
        itself or, for a two-way numeric date, each of its readings the policy states; for a rate the
        policy does not state, its count when the policy states that count but never as a rate ("up to 5
        exports" backs "5 exports a day"; "1,000 requests per minute" does not back "1,000 requests per hour")."""
        if figure in self.stating:
            return (figure,)
        if is_rate(figure):
            count = ("", figure[1])
            return (count,) if figure[1] not in self.rate_counts and count in self.stating else ()
        return tuple(reading for reading in readings(figure) if reading in self.stating)

    def refs(self) -> set[str]:
        """The rule numbers the policy has ("1.1", "4.7"...)."""
        return {unit.ref for unit in self.units if unit.ref}

    def score(self, unit: PolicyUnit, sentence: frozenset[str], reply: frozenset[str]) -> float:
        """How well `unit` matches a figure's sentence and, at REPLY_WEIGHT, the rest of its reply."""
        idf = self.idf
        own = sum(idf[word] for word in unit.topics & sentence)
        return own + REPLY_WEIGHT * sum(idf[word] for word in (unit.topics & reply) - sentence)

    def off_topic(
        self, figure: Figure, sentence: frozenset[str], reply: frozenset[str], refs: frozenset[str] = frozenset()
    ) -> str | None:
        """None when a unit stating `figure` is among the units the text is about, or is a rule the row
        names in `refs` (its seed's `policy_refs`: the rules the expert's reply applies); else the rule
        number (or first words) of the unit it is about, for the rejection reason."""
        if refs and any(self.units[index].ref in refs for index in self.stating[figure]):
            return None
        scores, best = self.scores(sentence, reply)
        top = max(scores.get(index, 0.0) for index in self.stating[figure])
        if top > 0 and top >= MIN_SHARE * scores.get(best, 0.0):
            return None
        unit = self.units[best]
        return unit.ref or ", ".join(sorted(unit.topics)[:4])

    def scores(self, sentence: frozenset[str], reply: frozenset[str]) -> tuple[dict[int, float], int]:
        """The score of each unit sharing a topic word with the reply (`score`; every other unit scores 0)
        and the best unit's index (the first of the best, unit 0 when none shares a word). Only the units
        the inverted index names are scored: on a 130-unit policy most share no word with a reply."""
        if self._scored and self._scored[0] is sentence and self._scored[1] is reply:
            return self._scored[2], self._scored[3]
        sharing = sorted({index for word in sentence | reply for index in self.having.get(word, ())})
        scores = {index: self.score(self.units[index], sentence, reply) for index in sharing}
        high = max(scores.values(), default=0.0)
        best = next((index for index in sharing if scores[index] == high), 0) if high > 0 else 0
        self._scored = (sentence, reply, scores, best)
        return scores, best
