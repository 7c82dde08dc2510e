"""The encoding hint: which encodings a file that is not UTF-8 looks like, and the word its bad byte is in
as each of them reads it, for the error core.files raises (its docstring: "encoding").

`guess_encodings` asks chardet about the file's lines that are not UTF-8 and names the likeliest encoding,
a second when about as likely, or up to three when too few bytes tell; `looks_like` quotes the bad byte's
word as each reads it: "; the bytes look like cp1250 ("Łódź") or cp1252 ("£ódŸ")". It only names
encodings: no file is ever decoded by a guess.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

import chardet
import regex
from chardet import EncodingEra

# A second encoding is named beside the likeliest when chardet's confidence in it is at least this share of
# the likeliest's. bench/bench_encoding_hint.py (BENCHMARKS.md), 93 sentences: one of the named encodings
# reads them right for all 93, more than one is named for 17; at 0.95 a Spanish sentence is named cp1250 alone
# (Muñoz read as Muňoz); at 0.7 a second name comes with 21. charset-normalizer's guess: right for 68.
SECOND_ENCODING = 0.85
# With fewer distinct bytes outside ASCII than this ("naïve" alone, or "café" and "naïve" on every line of a
# long file), no detector can tell (chardet's confidence is about 0.04, its order noise): every reading
# without an _ODD character is named, at most MOST_NAMED, UNDECIDED's among them. Same bench, 75 single
# words: right among the named 75 (before 74; "Renée" was named cp1250 or cp874), without this rule 70.
FEW_TELLING_BYTES = 3
MOST_NAMED = 3  # a fourth reading would bury the right one
UNDECIDED = "cp1252"  # what chardet answers when no encoding fits the bytes; the commonest Windows code page
# What no text holds: a word mixing Latin letters with another alphabet's letters or marks ("дйjа" for "déjà",
# "Ren้e" for "Renée"; not CJK, which runs into Latin words, "ATMの"), or Latin letters around a number,
# symbol or punctuation other than a dash or quote ("Œl¹sk" for "Śląsk"). Named only when every reading is.
_GARBLED = regex.compile(
    r"(?=\w*\p{Latin})(?=\w*(?:[\p{L}--\p{Latin}--\p{Han}--\p{Hiragana}--\p{Katakana}--\p{Hangul}]"
    r"|[\p{M}--[\u0300-\u036f]]))\w+|\p{Latin}[^\x00-\x7f\p{L}\p{M}\p{Pd}\p{Pi}\p{Pf}\s]+\p{Latin}",
    flags=regex.V1,
)
# Unlikely, though some text holds it: a letter touching a symbol, number or control character outside ASCII
# ("£ódŸ" for "Łódź"), or another alphabet's letter before a Latin one ("H幨鋝e" for "Hélène") or after one
# (but kana or Hangul: "ATMの"). Such readings are named after those without one.
_ODD = regex.compile(
    r"\p{L}[[\p{S}\p{N}\p{C}]--\p{ASCII}]|[[\p{S}\p{N}\p{C}]--\p{ASCII}]\p{L}"
    r"|[\p{L}--\p{Latin}]\p{Latin}|\p{Latin}[\p{L}--\p{Latin}--\p{Hiragana}--\p{Katakana}--\p{Hangul}]",
    flags=regex.V1,
)
_HINT_BYTES = 64 * 1024  # of the lines that are not UTF-8: plenty to tell, and bounded for a huge file
# A word: bytes between these separators, all below 0x40, so never the second byte of a CJK character.
_WORD = re.compile(rb'[^\s,;:"()<>]+')
_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class Guess:
    """The encodings a file's bytes look like, likeliest first (one, or a few about as likely)."""

    encodings: tuple[str, ...]


def _reading(word: bytes, encoding: str) -> str:
    """`word` as `encoding` reads it, at most 30 characters, unprintable ones shown as U+FFFD."""
    text = word.decode(encoding, errors="replace")[:30]
    return "".join(char if char.isprintable() else "\ufffd" for char in text)


def looks_like(guess: Guess | None, data: bytes, err: UnicodeDecodeError) -> str:
    """'; the bytes look like E ("word")' or '... E1 ("word") or E2 ("word")' for the line `data`, naming
    the word the bad byte is in as each encoding reads it; when some read it alike, the word of that line
    they read most differently (never another line's word), encodings that still read it alike named
    together ('E1/E2 ("word")'; '... E1 or E2 (each reads "word")' when none differs). Empty without a guess."""
    if guess is None:
        return ""
    word = next((m[0] for m in _WORD.finditer(data) if m.start() <= err.start < m.end()), data[err.start :][:1])
    readings = tuple(_reading(word, encoding) for encoding in guess.encodings)
    if len(set(readings)) < len(readings):  # a word of this line that they read differently, if it has one
        found = [tuple(_reading(other, encoding) for encoding in guess.encodings) for other in _WORD.findall(data)]
        readings = max((one for one in found if len(set(one)) > 1), key=lambda one: len(set(one)), default=readings)
    alike: dict[str, list[str]] = {}  # reading: the encodings that read the word so, in the guess's order
    for encoding, reading in zip(guess.encodings, readings, strict=True):
        alike.setdefault(reading, []).append(encoding)
    if len(alike) == 1 and len(guess.encodings) > 1:  # the line tells them nowhere apart: say so, once
        return f'; the bytes look like {" or ".join(guess.encodings)} (each reads "{readings[0]}")'
    named = " or ".join(f'{"/".join(encodings)} ("{reading}")' for reading, encodings in alike.items())
    return f"; the bytes look like {named}"


def _telling_bytes(path: Path) -> bytes:
    """What to guess a file's encoding from: its lines that are not UTF-8, up to _HINT_BYTES (the others,
    often plain ASCII, say nothing and would drown the few telling bytes), or the file's start when it
    opens with a UTF-16 or UTF-32 byte-order mark."""
    with path.open("rb") as handle:
        head = handle.read(_HINT_BYTES)
        if head.startswith(_BOMS):
            return head
        handle.seek(0)
        lines: list[bytes] = []
        size = 0
        for data in handle:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                lines.append(data)
                size += len(data)
                if size >= _HINT_BYTES:
                    break
    return b"".join(lines)


def _readings(sample: bytes) -> list[tuple[str, float]]:
    """(encoding, confidence) of chardet's guesses for `sample` among the encodings of its MODERN_WEB era
    (Windows code pages, CJK ones, UTF-16, UTF-32, KOI8), likeliest first, one per reading (UNDECIDED's if
    it reads so: cp1250 and cp1252 read "Grüße" alike), garbled ones (_GARBLED) left out unless all are."""
    readings: dict[str, tuple[str, float]] = {}
    for result in chardet.detect_all(sample, ignore_threshold=True, encoding_era=EncodingEra.MODERN_WEB,
                                     max_bytes=len(sample), prefer_superset=True, compat_names=False):  # fmt: skip
        encoding = result["encoding"]
        if encoding is not None and encoding not in ("utf-8", "ascii"):
            text = sample.decode(encoding, errors="replace")
            if text not in readings or encoding == UNDECIDED:  # the commonest encoding names a shared reading
                readings[text] = (encoding, max(result["confidence"] or 0.0, readings.get(text, ("", 0.0))[1]))
    plausible = [guess for text, guess in readings.items() if not _GARBLED.search(text)]
    return plausible or list(readings.values())


def _few_telling(ranked: list[tuple[str, float]], sample: bytes) -> tuple[str, ...]:
    """What to name when too few bytes tell: the readings without an _ODD character, at most MOST_NAMED,
    UNDECIDED's among them or besides a single one; chardet's two likeliest when none is without."""
    texts = {encoding: sample.decode(encoding, errors="replace") for encoding, _ in ranked}
    plain = [encoding for encoding, text in texts.items() if not _ODD.search(text)]
    named = plain[:MOST_NAMED] or [encoding for encoding, _ in ranked[:2]]
    if UNDECIDED in texts and UNDECIDED not in named and (len(named) == 1 or UNDECIDED in plain):
        named = [*named[: MOST_NAMED - 1], UNDECIDED]
    return tuple(named)


def guess_encodings(path: Path) -> Guess | None:
    """The encodings the file's bytes look like (`_readings` of `_telling_bytes`), or None: the likeliest
    (_ODD readings last) and a second when about as likely (SECOND_ENCODING), or when too few distinct bytes
    tell (FEW_TELLING_BYTES) `_few_telling`'s."""
    sample = _telling_bytes(path)
    ranked = _readings(sample) if sample else []
    if not ranked:
        return None
    telling_bytes = len(set(sample.translate(None, bytes(range(0x80)))))  # distinct ones outside ASCII
    if telling_bytes < FEW_TELLING_BYTES:
        named = _few_telling(ranked, sample)
    else:
        ranked.sort(key=lambda guess: _ODD.search(sample.decode(guess[0], errors="replace")) is not None)
        named = tuple(encoding for encoding, confidence in ranked[:2] if confidence >= SECOND_ENCODING * ranked[0][1])
    return Guess(named)
