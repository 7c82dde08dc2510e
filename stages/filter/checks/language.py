"""The language check: English, in Latin script, with clean characters."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from stages.core.params import Section
from stages.core.text import words
from stages.filter.checks.base import Check, Row

_ENGLISH = frozenset(
    [
        "a", "about", "after", "all", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
        "could", "did", "do", "does", "don't", "for", "from", "had", "has", "have", "how", "i", "i'm", "i've", "if",
        "in", "is", "it", "it's", "just", "me", "my", "no", "not", "now", "of", "on", "or", "our", "please", "so",
        "that", "the", "their", "them", "then", "there", "they", "this", "to", "was", "we", "were", "what", "when",
        "where", "which", "who", "why", "will", "with", "would", "you", "your"
    ]
)  # fmt: skip
# Function words of the languages a teacher most often slips into, minus any that are English words.
_FOREIGN = {
    "Spanish": "el la los las que y del por para mi es está una pero como qué muy también hace todavía cuando",
    "French": "le les des du et est une je ma mon mes pas qui sur pour dans avec ce cette il elle nous vous très",
    "German": "der das und ist nicht ich mein meine ein eine zu mit auf für von dem sie es noch wurde habe aber",
    "Italian": "il lo gli di che è sono della delle questo questa mio mia perché",
    "Portuguese": "os uma não em com meu minha você está são também",
    "Dutch": "het een en niet ik mijn voor zijn maar heb",
}
_LANGUAGE_OF = {word: language for language, listed in _FOREIGN.items() for word in listed.split()}
_LANGUAGE_OF = {word: language for word, language in _LANGUAGE_OF.items() if word not in _ENGLISH}
_LANGUAGE_OF |= dict.fromkeys(_ENGLISH, "English")


def language_of(word: str) -> str | None:
    """The language a lower-case word is a function word of ("English", "Spanish"...), else None."""
    return _LANGUAGE_OF.get(word)


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MOJIBAKE = re.compile(r"Ã[\u0080-\u00bf]|â€|Â[\u00a0-\u00bf]")


class LanguageParams(Section):
    """`filter.language`: when a turn is judged for language, and how much non-Latin script it may hold."""

    min_words: int = Field(default=6, ge=1)
    min_latin_share: float = Field(default=0.9, ge=0, le=1)


@dataclass(frozen=True)
class LanguageCheck(Check):
    """English, Latin script, clean characters: what an English-language assistant's training data must be.

    Language is told by function words, which even a telegraphic English turn keeps a few of
    ("card not arrived, wat do"), while a Spanish or German turn has its own; a turn of fewer than
    `min_words` words is not judged for language. Characters: no U+FFFD, control or invisible format
    characters, no mojibake (UTF-8 read as Latin-1: "Ã©", "â€™"), at least `min_latin_share` Latin letters.
    """

    name: ClassVar[str] = "language"
    Params: ClassVar[type[Section]] = LanguageParams
    run_order: ClassVar[int] = 60

    params: LanguageParams

    def check(self, row: Row) -> str | None:
        """`language: <problem> in <role> text` for the first user or assistant turn at fault, else None."""
        for message in row["messages"]:
            if message["role"] != "system":
                problem = self.problem(message["content"])
                if problem:
                    return f"language: {problem} in {message['role']} text"
        return None

    def problem(self, text: str) -> str | None:
        """What is wrong with one turn's text (a bad character, mojibake, script, language), or None."""
        if text.isascii():  # the common case: only control characters can be wrong
            bad = _ASCII_CONTROL.search(text)
            if bad:
                return f"bad character U+{ord(bad.group(0)):04X}"
        else:
            found = self._non_ascii_problem(text)
            if found:
                return found
        tokens = words(text)
        if len(tokens) >= self.params.min_words:
            hits = Counter(map(_LANGUAGE_OF.get, tokens))  # one pass: function words per language
            english = hits.pop("English", 0)
            hits.pop(None, None)
            if hits:
                language, count = max(sorted(hits.items()), key=lambda item: item[1])
                if count >= 2 and count > english:
                    return f"reads as {language} ({count} {language} vs {english} English function words)"
        return None

    def _non_ascii_problem(self, text: str) -> str | None:
        mojibake = _MOJIBAKE.search(text)
        if mojibake:
            return f"mojibake {mojibake.group(0)!r}"
        for char in text:
            if char.isascii():
                if (char < " " and char not in "\n\t") or char == "\x7f":
                    return f"bad character U+{ord(char):04X}"
                continue
            if char == "\ufffd" or unicodedata.category(char) in ("Cc", "Cf", "Co"):
                return f"bad character U+{ord(char):04X}"
        letters = [char for char in text if char.isalpha()]
        foreign = [
            char for char in letters if not char.isascii() and not unicodedata.name(char, "").startswith("LATIN")
        ]
        if letters and len(foreign) > (1 - self.params.min_latin_share) * len(letters):
            script = unicodedata.name(foreign[0], "unknown").split()[0].lower()
            return f"{len(foreign)} of {len(letters)} letters are not Latin ({script})"
        return None
