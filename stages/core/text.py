"""Text normalisation shared by seed validation, dedup and decontamination."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"[ \t\u00a0]+")
_WORD = re.compile(r"[\w']+")


def tidy(text: str) -> str:
    """NFC, trimmed lines, runs of spaces folded: what the seed stage stores."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n")).strip()


def words(text: str) -> list[str]:
    """Casefolded word tokens: the unit of exact and near-duplicate matching."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def match_key(text: str) -> str:
    """Normalised text for exact-duplicate matching (case, punctuation and spacing ignored)."""
    return " ".join(words(text))


def word_jaccard(first: str, second: str) -> float:
    """Jaccard similarity in [0, 1] of the two texts' word sets (`words`); 1.0 for two wordless texts."""
    a, b = set(words(first)), set(words(second))
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
