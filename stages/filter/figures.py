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
    ("24/7",)                         around the clock
    ("", value)                       a bare count ("3 failed attempts" -> 3)
Earlier kinds claim their text first: "£5,000" is money, not the count 5.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pycountry

Figure = tuple[object, ...]

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
_AMOUNT = r"\d[\d,]*(?:\.\d+)?"
_NUMBER = r"(?:\d[\d,]*(?:\.\d+)?|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_UNIT = r"(?:" + "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True)) + r")"
_WORDS = "|".join(sorted(CURRENCY_WORDS, key=len, reverse=True))
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("always", re.compile(r"\b24\s?/\s?7\b")),
    ("time", re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?(am|pm)\b", re.IGNORECASE)),
    ("clock", re.compile(r"(?<![\d.,:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:]|\s?[ap]m\b)", re.IGNORECASE)),
    # sign or code before the amount: "£5", "US$ 5", "EUR 20"; then amount before it: "20 €", "20 EUR"
    ("money", re.compile(rf"(?:\b[A-Z]{{1,2}})?({CURRENCY})\s?({_AMOUNT})(k\b)?")),
    ("money_after", re.compile(rf"(?<![\w.,])({_AMOUNT})(k\b)?\s?([{_SIGNS}]|\b(?:{_CODES}|{_WORDS})\b)")),
    ("percent", re.compile(r"(\d+(?:\.\d+)?)\s?(?:%|per ?cent\b)", re.IGNORECASE)),
    ("range", re.compile(rf"\b({_NUMBER})\s?(?:to|-|–|or)\s?({_NUMBER})(?:\s|-)?({_UNIT})\b", re.IGNORECASE)),
    ("duration", re.compile(rf"\b({_NUMBER})(?:\s|-)?({_UNIT})\b", re.IGNORECASE)),
    ("count", re.compile(rf"(?<![\w.,{_SIGNS}])(\d+(?:\.\d+)?)(?![\w%]|[.,]\d)")),
]
DIGITS = re.compile(r"\d[\d,]*(?:\.\d+)?")
_ANY_NUMBER = re.compile(r"\d|\b(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def number(text: str) -> float:
    """A number as written ("5,000", "0.5", "three") as a float."""
    text = text.lower().replace(",", "")
    return float(NUMBER_WORDS[text]) if text in NUMBER_WORDS else float(text)


def _currency(written: str) -> str:
    """The unit of a currency as written: its ISO code where the sign or word has one usual currency."""
    return SIGN_CODES.get(written) or CURRENCY_WORDS.get(written.lower()) or written


def _figure(kind: str, match: re.Match[str]) -> Figure:
    """The figure of one match of pattern `kind` (see _PATTERNS)."""
    if kind == "always":
        return ("24/7",)
    if kind == "time":
        hour = int(match.group(1)) % 12 + (12 if match.group(3).lower() == "pm" else 0)
        return ("time", hour * 60 + int(match.group(2) or 0))
    if kind == "clock":
        return ("time", int(match.group(1)) * 60 + int(match.group(2)))
    if kind == "money":
        return (_currency(match.group(1)), number(match.group(2)) * (1000 if match.group(3) else 1))
    if kind == "money_after":
        return (_currency(match.group(3)), number(match.group(1)) * (1000 if match.group(2) else 1))
    if kind == "percent":
        return ("%", number(match.group(1)))
    if kind == "range":
        return (UNITS[match.group(3).lower()], number(match.group(1)), number(match.group(2)))
    if kind == "duration":
        return (UNITS[match.group(2).lower()], number(match.group(1)))
    return ("", number(match.group(1)))


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
            taken[match.start() : match.end()] = b"\x01" * (match.end() - match.start())
            found.append((match.start(), _figure(kind, match), match.group(0)))
    return tuple((figure, written) for _, figure, written in sorted(found, key=lambda item: item[0]))
