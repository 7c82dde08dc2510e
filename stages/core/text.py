"""Text normalisation, once for every stage: what is stored, and what is compared.

Two levels:
  tidy(text)       what the seed stage (and the reviewers' edits) store: NFC, line ends as "\\n", spaces
                   folded and trimmed, and the invisible characters that mean nothing in any script
                   removed (zero-width space, word joiner, byte-order mark, soft hyphen...). Joiners that
                   shape letters (ZWJ, ZWNJ) and the text's own characters are kept.
  normalise(text)  what is compared (exact and near duplicates, decontamination, leak checks, preference
                   pairs): toNFKC_Casefold as in Unicode UAX #44 (default-ignorable characters removed,
                   NFKC, case folded), typographic quotes and dashes as their ASCII forms, and the optional
                   pointing of Arabic and Hebrew (harakat, niqqud, tatweel) removed: readers take the
                   pointed and the plain word for the same word. Other combining marks are letters of their
                   word (Devanagari vowel signs, Latin accents) and are kept: "मेरा कार्ड" is two words.

Words (`words`): runs of letters, marks, digits and "_", with apostrophes only inside a word (so
"don't" and the typo "didn''t" are one word each, and 'quoted' is `quoted`). Scripts written without
spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar) have no dictionary-free word splitter, so a
run of them gives its overlapping character bigrams, as Lucene's CJK bigram filter does. `tokens` are
what matching compares: the words, or, for a text with no word at all ("???", an emoji), its visible
characters, each as a token that no word can equal; so wordless texts are compared like any other, and
are never all equal to one another.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Hashable, Set

import regex

_SPACES = re.compile(r"[ \t\u00a0]+")
# Invisible characters with no meaning in any script (format characters that only break or join lines).
_JUNK = re.compile("[\u00ad\u180e\u200b\u2060-\u2064\ufeff]")
_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}+")
# Optional pointing: Arabic harakat, tanwin, shadda, sukun, Quranic marks and tatweel; Hebrew niqqud
# and cantillation (Unicode blocks Arabic, Arabic Extended-A and Hebrew).
_POINTING = re.compile(
    "[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
    "\u08d3-\u08e1\u08e3-\u08ff\u0640\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7]"
)
_TYPOGRAPHIC = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u02bc\uff07", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\uff02", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d", "-"),
    }
)
# Letters of the scripts written without spaces (by script extension, so that "ー" and "々" count).
_SCRIPTS = "".join(rf"\p{{scx={name}}}" for name in ("Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar"))
_NO_SPACE = rf"[[{_SCRIPTS}]&&\w&&\P{{M}}]"
_WORD_CHAR = rf"[\w--{_NO_SPACE}]"
_WORD_OR_RUN = regex.compile(rf"(?V1){_WORD_CHAR}+(?:'+{_WORD_CHAR}+)*|(?:{_NO_SPACE}\p{{M}}*)+")
_GRAPHEME = regex.compile(rf"(?V1){_NO_SPACE}\p{{M}}*")
_ASCII_WORD = re.compile(r"[a-z0-9_]+(?:'+[a-z0-9_]+)*")
_VISIBLE = regex.compile(r"[^\s\p{Default_Ignorable_Code_Point}\p{Cc}]")
SYMBOL_MARK = "\ue000"  # private use: never part of a word, so a symbol token equals no word


def tidy(text: str) -> str:
    """NFC, line ends as "\\n", invisible junk removed, spaces folded, lines trimmed: what stages store."""
    text = unicodedata.normalize("NFC", _JUNK.sub("", text)).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n")).strip()


def normalise(text: str) -> str:
    """The text as matching sees it (module docstring): toNFKC_Casefold, ASCII quotes and dashes, no
    optional Arabic or Hebrew pointing. ASCII text only has its case folded."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", _IGNORABLE.sub("", text)).casefold()
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHIC)
    return _POINTING.sub("", text)


def words(text: str) -> list[str]:
    """Word tokens of the normalised text (module docstring); [] for a text with no word."""
    if text.isascii():
        return _ASCII_WORD.findall(text.lower())
    found: list[str] = []
    for token in _WORD_OR_RUN.findall(normalise(text)):
        if not _GRAPHEME.match(token):
            found.append(token)
            continue
        graphemes = _GRAPHEME.findall(token)  # a run of a script without spaces: its bigrams
        found += [a + b for a, b in itertools.pairwise(graphemes)] or graphemes
    return found


def tokens(text: str) -> list[str]:
    """What matching compares: `words`, or for a text with no word its visible characters (each as
    SYMBOL_MARK + its code point in hex, so it equals no word); [] only for a text with nothing visible."""
    found = words(text)
    if found:
        return found
    return [f"{SYMBOL_MARK}{ord(char):x}" for char in normalise(text) if _VISIBLE.match(char)]


def has_visible(text: str) -> bool:
    """Whether `text` shows anything: a character other than spaces, controls and invisible ones."""
    return _VISIBLE.search(text) is not None


def control_characters(text: str) -> list[tuple[int, str]]:
    """(1-based character position, "U+XXXX") of each control character other than tab and line ends."""
    return [
        (index + 1, f"U+{ord(char):04X}")
        for index, char in enumerate(text)
        if unicodedata.category(char) == "Cc" and char not in "\t\n\r"
    ]


def match_key(text: str) -> str:
    """Normalised text for exact-duplicate matching (case, punctuation, spacing, typographic forms and
    invisible characters ignored): the `tokens` joined by spaces."""
    return " ".join(tokens(text))


def jaccard(a: Set[Hashable], b: Set[Hashable]) -> float:
    """|A & B| / |A | B| in [0, 1] for two word sets (strings or dedup's 64-bit word hashes); 1.0 for two empty sets."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def word_jaccard(first: str, second: str) -> float:
    """Jaccard similarity in [0, 1] of the two texts' token sets (`tokens`); 1.0 for two texts with nothing visible."""
    return jaccard(set(tokens(first)), set(tokens(second)))
