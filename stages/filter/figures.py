"""Figures in text: a number with what it counts, read the same way in any domain.

A figure is one of
    (<currency>, amount)              money: a currency sign ("€20", "20 €", "US$5"), an ISO 4217 code
                                      ("EUR 20", "20 EUR"; codes from pycountry) or word ("20 euros");
                                      "k" thousands ("£10k"). Signs with one usual currency become
                                      its code, so "€20" and "EUR 20" are one figure
    ("%", value)                      "0.5%", "2 per cent"
    ("time", minutes after midnight)  "4pm", "8:30 am", "16:00"
    (<unit>, value) / (<unit>, lo, hi)  durations and measures: "24 hours", "3 to 5 working days",
                                      "23 kg", "2 nights", "45 seconds", "55GB", "100 Mbps"
                                      (UNITS gives each surface form its unit)
    ("per <time unit>", value)        a count of anything per time unit: "5,000 requests/minute",
                                      "2,000 requests per minute", "1,500 requests a minute", "100 req/s",
                                      "3 sign-ins each day" (up to three words say what is counted; they are
                                      topic words, not part of the figure). A policy stating a rate states
                                      its count too ("1,000 requests" against "1,000 requests per minute")
    ("version", "2.4")                "v2.4.0", "V2.4", "version 2.4", "2.4.0" (three dotted numbers), with
                                      a pre-release tag ("v2.4.0-beta.1": "2.4-beta.1"); trailing ".0"
                                      parts dropped, so "v2", "v2.0" and "2.0.0" are one version
    ("date", "2026-12-06")            one date however written (stages/filter/dates.py: ISO, "6 December
                                      2026", "December 6, 2026", "06.12.2026"; "06/12/2026" keeps both readings)
    ("24/7",)                         around the clock
    ("", value)                       a bare count ("3 failed attempts" -> 3)
Earlier kinds claim their text first: "£5,000" is money, not the count 5; "2026-12-06" a date, not three
numbers. A number is written with digits, or as a small number word where a unit follows ("three days");
thousands may be grouped by commas ("5,000", "12,500.50") or by spaces: a no-break, narrow no-break or
thin space, or a plain space when every group after the first (1-3 digits, not 0) has exactly three
digits and no other digit group follows ("1 000", "2 500 000"; "44 668 18 00" stays four numbers). Plain
spaces are ambiguous where two numbers stand side by side ("3 100" may be 3 and 100): such a pair is read
as one number, as a list of numbers is usually written with commas. Keyboard shortcuts ("Ctrl+Shift+P")
and other digitless tokens are not figures.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache, partial

import pycountry

from stages.filter.dates import DATE_PATTERNS, Figure, date_figure, date_forms, date_readings

_TIME_UNITS = {
    "working day": "working day", "working days": "working day", "business day": "working day",
    "business days": "working day", "day": "day", "days": "day", "night": "night", "nights": "night",
    "hour": "hour", "hours": "hour", "hr": "hour", "hrs": "hour", "minute": "minute", "minutes": "minute",
    "min": "minute", "mins": "minute", "week": "week", "weeks": "week", "month": "month", "months": "month",
    "calendar month": "month", "calendar months": "month", "year": "year", "years": "year",
    "second": "second", "seconds": "second", "sec": "second", "secs": "second",
}  # fmt: skip
_MEASURE_UNITS = {
    "kg": "kg", "kgs": "kg", "kilo": "kg", "kilos": "kg", "kilogram": "kg", "kilograms": "kg",
    "lb": "lb", "lbs": "lb", "km": "km", "kilometre": "km", "kilometres": "km", "kilometer": "km",
    "kilometers": "km", "mile": "mile", "miles": "mile", "cm": "cm", "mm": "mm", "litre": "litre",
    "litres": "litre", "liter": "litre", "liters": "litre", "ml": "ml",
    # data sizes and rates, written glued or spaced ("55GB", "20 MB", "100 Mbps")
    "kb": "KB", "kilobyte": "KB", "kilobytes": "KB", "mb": "MB", "megabyte": "MB", "megabytes": "MB",
    "gb": "GB", "gig": "GB", "gigs": "GB", "gigabyte": "GB", "gigabytes": "GB", "tb": "TB", "terabyte": "TB",
    "terabytes": "TB", "kbps": "kbit/s", "mbps": "Mbit/s", "mbit/s": "Mbit/s", "gbps": "Gbit/s", "gbit/s": "Gbit/s",
}  # fmt: skip
UNITS = _TIME_UNITS | _MEASURE_UNITS
NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    )
}
NUMBER_WORDS |= {"eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty-five": 45, "sixty": 60}
# Signs whose usual currency is one: written either way, one figure. "$" and "¥" stay as they are.
SIGN_CODES = {"£": "GBP", "€": "EUR", "₹": "INR", "₩": "KRW", "₺": "TRY", "₪": "ILS", "₫": "VND", "₱": "PHP",
              "₴": "UAH", "₦": "NGN", "₽": "RUB", "฿": "THB", "₸": "KZT", "₼": "AZN", "₾": "GEL"}  # fmt: skip
CURRENCY_WORDS = {"euro": "EUR", "euros": "EUR", "pound": "GBP", "pounds": "GBP", "dollar": "$", "dollars": "$",
                  "yen": "¥", "rupee": "INR", "rupees": "INR", "franc": "CHF", "francs": "CHF"}  # fmt: skip


def _currency_signs() -> str:
    """Every Unicode currency sign (category Sc) of the Basic Multilingual Plane, as a regex class body."""
    return "".join(re.escape(chr(code)) for code in range(0x10000) if unicodedata.category(chr(code)) == "Sc")


_SIGNS = _currency_signs()
_CODES = "|".join(sorted(currency.alpha_3 for currency in pycountry.currencies))
# A currency as written before or after an amount: any sign (Sc) or ISO 4217 code ("€", "R$"'s "$", "CHF")
CURRENCY = rf"(?:[{_SIGNS}]|\b(?:{_CODES})\b)"
_SEPARATOR = "[ \u00a0\u202f\u2009]"  # space, no-break, narrow no-break and thin space
# thousands grouped by spaces: the whole run of groups, not preceded or followed by another digit group
_SPACED = rf"(?<!\d{_SEPARATOR})[1-9]\d{{0,2}}(?:{_SEPARATOR}\d{{3}})+(?!\d|{_SEPARATOR}\d)(?:\.\d+)?"
# a number of digits: commas in groups of three ("5,000", "12,500.50"), spaced groups or plain ("3", "0.5")
_NUM = rf"(?:[1-9]\d{{0,2}}(?:,\d{{3}})+(?!\d)(?:\.\d+)?|{_SPACED}|\d+(?:\.\d+)?)"
_AMOUNT = rf"(?:{_SPACED}|\d[\d,]*(?:\.\d+)?)"  # money: any commas, as read before ("£5,000")
_NUMBER_WORD = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_NUMBER = rf"(?:{_AMOUNT}|{_NUMBER_WORD})"
_UNIT = r"(?:" + "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True)) + r")"
_WORDS = "|".join(sorted(CURRENCY_WORDS, key=len, reverse=True))
_TIME = "|".join(sorted(map(re.escape, _TIME_UNITS), key=len, reverse=True))
_RATE_TIME_UNITS = _TIME_UNITS | {"s": "second", "h": "hour", "d": "day"}  # one letter only after "/": "req/s"
_COUNTED = r"(?:[\s-]+[^\W\d_][\w'’-]*){0,3}?"  # what a rate counts: up to three words ("API calls")
_VERSION_TAG = r"((?i:-(?:alpha|beta|rc|pre|preview|dev)(?:\.?\d+)*)?)"  # a pre-release: "-beta.1", "-rc2"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("always", re.compile(r"\b24\s?/\s?7\b")),
    *DATE_PATTERNS,
    ("version", re.compile(rf"(?<![\w.])(?:[vV]|(?i:version)\s+[vV]?)(\d+(?:\.\d+){{0,3}}){_VERSION_TAG}(?!\w|\.\d)")),
    ("version", re.compile(rf"(?<![\w.,])(\d+\.\d+\.\d+){_VERSION_TAG}(?!\w|\.\d)")),
    ("time", re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?(am|pm)\b", re.IGNORECASE)),
    ("clock", re.compile(r"(?<![\d.,:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:]|\s?[ap]m\b)", re.IGNORECASE)),
    # sign or code before the amount: "£5", "US$ 5", "EUR 20"; then amount before it: "20 €", "20 EUR"
    ("money", re.compile(rf"(?:\b[A-Z]{{1,2}})?({CURRENCY})\s?({_AMOUNT})(k\b)?")),
    ("money_after", re.compile(rf"(?<![\w.,])({_AMOUNT})(k\b)?\s?([{_SIGNS}]|\b(?:{_CODES}|{_WORDS})\b)")),
    ("percent", re.compile(rf"({_NUM})\s?(?:%|per ?cent\b)", re.IGNORECASE)),
    ("range", re.compile(rf"\b({_NUMBER})\s?(?:to|-|–|or)\s?({_NUMBER})(?:\s|-)?({_UNIT})\b", re.IGNORECASE)),
    ("duration", re.compile(rf"\b({_NUMBER})(?:\s|-)?({_UNIT})\b", re.IGNORECASE)),
    (
        "rate",
        re.compile(
            rf"(?<![\w.,{_SIGNS}])({_NUM}){_COUNTED}(?:\s*/\s*({_TIME}|[shd])|\s+(?:per|an?|each|every)\s+({_TIME}))\b"
            r"(?!\s+(?:ago|later|earlier|before|after|back)\b)",  # "2 transfers an hour ago" is when, not a rate
            re.IGNORECASE,
        ),
    ),
    ("count", re.compile(rf"(?<![\w.,{_SIGNS}])({_NUM})(?![\w%]|[.,]\d)")),
]
DIGITS = re.compile(_AMOUNT)  # any number as the customer typed it (policy_facts lets the reply repeat it)
_ANY_NUMBER = re.compile(rf"\d|\b(?:{_NUMBER_WORD})\b", re.IGNORECASE)
RATE = "per "  # the unit of a rate figure starts so: ("per minute", 5000.0)


def number(text: str) -> float:
    """A number as written ("5,000", "1 000", "0.5", "three") as a float."""
    text = re.sub(_SEPARATOR + "|,", "", text.lower())
    return float(NUMBER_WORDS[text]) if text in NUMBER_WORDS else float(text)


def _currency(written: str) -> str:
    """The unit of a currency as written: its ISO code where the sign or word has one usual currency."""
    return SIGN_CODES.get(written) or CURRENCY_WORDS.get(written.lower()) or written


def _version(numbers: str, tag: str) -> Figure:
    """("version", "2.4") for "2.4.0": parts as integers, trailing zero parts dropped, the tag lower-cased."""
    parts = [int(part) for part in numbers.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return ("version", ".".join(map(str, parts)) + tag.lower())


def _hour(match: re.Match[str]) -> Figure:
    hour = int(match.group(1)) % 12 + (12 if match.group(3).lower() == "pm" else 0)
    return ("time", hour * 60 + int(match.group(2) or 0))


def _rate(match: re.Match[str]) -> Figure:
    unit = (match.group(2) or match.group(3)).lower()
    return (RATE + _RATE_TIME_UNITS[unit], number(match.group(1)))


# The figure of one match of each pattern kind (see _PATTERNS); None: no figure, the text stays free.
_READERS: dict[str, Callable[[re.Match[str]], Figure | None]] = {
    "always": lambda match: ("24/7",),
    "version": lambda match: _version(match.group(1), match.group(2)),
    "time": _hour,
    "clock": lambda match: ("time", int(match.group(1)) * 60 + int(match.group(2))),
    "money": lambda match: (_currency(match.group(1)), number(match.group(2)) * (1000 if match.group(3) else 1)),
    "money_after": lambda match: (
        _currency(match.group(3)),
        number(match.group(1)) * (1000 if match.group(2) else 1),
    ),
    "percent": lambda match: ("%", number(match.group(1))),
    "range": lambda match: (UNITS[match.group(3).lower()], number(match.group(1)), number(match.group(2))),
    "duration": lambda match: (UNITS[match.group(2).lower()], number(match.group(1))),
    "rate": _rate,
    "count": lambda match: ("", number(match.group(1))),
} | {kind: partial(date_figure, kind) for kind, _ in DATE_PATTERNS}


@lru_cache(maxsize=65_536)
def figures(text: str) -> tuple[tuple[Figure, str], ...]:
    """(figure, as written) for every figure in `text`, in order; cached, as replies repeat."""
    if not _ANY_NUMBER.search(text):  # most sentences: skip the patterns
        return ()
    taken = bytearray(len(text))
    found: list[tuple[int, Figure, str]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            if any(taken[match.start() : match.end()]):
                continue
            figure = _READERS[kind](match)
            if figure is None:  # no real day ("31 February 2026"): its numbers are read by later kinds
                continue
            taken[match.start() : match.end()] = b"\x01" * (match.end() - match.start())
            found.append((match.start(), figure, match.group(0)))
    return tuple((figure, written) for _, figure, written in sorted(found, key=lambda item: item[0]))


def is_rate(figure: Figure) -> bool:
    """Whether `figure` is a count per time unit ("per minute", 5000.0)."""
    return isinstance(figure[0], str) and figure[0].startswith(RATE)


def readings(figure: Figure) -> tuple[Figure, ...]:
    """What a figure may mean: each reading of a two-way numeric date ("06/12/2026"), else itself."""
    return date_readings(figure) if figure[0] == "date" else (figure,)


def implied(figure: Figure) -> tuple[Figure, ...]:
    """The figures a text stating `figure` states: itself, a rate's count ("1,000 requests per minute"
    states 1,000 requests), a date's readings, its day without the year and its month (dates.date_forms)."""
    if figure[0] == "date":
        return date_forms(figure)
    if is_rate(figure):
        return (figure, ("", figure[1]))
    return (figure,)
