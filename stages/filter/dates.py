"""Dates in text as one figure each, read generically (ISO 8601 and the common written forms).

A date figure is ("date", <ISO 8601 text>, ...):
    ("date", "2026-12-06")   a day: "2026-12-06", "2026/12/06", "6 December 2026", "6th Dec 2026",
                             "6 of December, 2026", "December 6, 2026", "Dec. 6th 2026", "06.12.2026"
                             (dots: day first, as everywhere they are used)
    ("date", "--12-06")      a day without its year (ISO 8601's --MM-DD): "6 December", "December 6th"
    ("date", "2026-12")      a month: "December 2026", "Sept 2026"
    ("date", "2026-12-06", "2026-06-12")
                             a numeric date with "/" or "-" that is a real day either way round
                             ("06/12/2026"): both readings, day first. Day first (most of the world) and
                             month first (the United States) are both common and nothing in the text says
                             which, so the figure keeps both: it matches a policy date of either reading,
                             and a policy's own such date states both (`date_forms`). When only one
                             reading is a real day ("13/12/2026", "12/13/2026") it is that day alone.
Month names are English and capitalised ("fees of 3 may apply" has no month), in full or in three letters
("Sept" too). A match that is no real day is no date: its parts are read by the later kinds ("2026-13-45"
is three numbers, "31 February 2026" the number 31 and the month "2026-02").
"""

from __future__ import annotations

import datetime
import re

Figure = tuple[object, ...]

MONTHS = {
    "January": 1, "February": 2, "March": 3, "April": 4, "May": 5, "June": 6, "July": 7, "August": 8,
    "September": 9, "October": 10, "November": 11, "December": 12, "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4,
    "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Sept": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip
ABBREVIATED_MONTHS = tuple(name for name in MONTHS if any(other != name and other.startswith(name) for other in MONTHS))
_MONTH = "(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(\d{4}))?"  # an optional year after a day: "6 December 2026", "December 6, 2026"
DATE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("date_iso", re.compile(r"(?<![\d/.-])(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d|\.\d)")),
    ("date_numeric", re.compile(r"(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?!\d|\.\d)")),
    ("date_day_month", re.compile(rf"\b{_DAY}(?:\s+of)?\s+{_MONTH}{_YEAR}(?!\w|[.,:]\d)")),
    ("date_month_day", re.compile(rf"\b{_MONTH}\s+{_DAY}{_YEAR}(?!\w|[.,:]\d)")),
    ("date_month", re.compile(rf"\b{_MONTH},?\s+(\d{{4}})(?!\w|[.,:]\d)")),
]


def _day(year: int | None, month: int, day: int) -> str | None:
    """ISO text of a real day ("2026-12-06", "--12-06" without a year), None if there is no such day."""
    try:
        datetime.date(year or 2000, month, day)  # 2000: a leap year, so "29 February" is a day
    except ValueError:
        return None
    return f"{year:04d}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"


def _numeric(first: int, separator: str, second: int, year: int) -> Figure | None:
    """A numeric date: day first with dots; with "/" or "-" each reading that is a real day (module docstring)."""
    if separator == ".":
        day = _day(year, second, first)
        return ("date", day) if day else None
    readings = dict.fromkeys(day for day in (_day(year, second, first), _day(year, first, second)) if day)
    return ("date", *readings) if readings else None


def date_figure(kind: str, match: re.Match[str]) -> Figure | None:
    """The date figure of one match of DATE_PATTERNS' `kind`, or None when it is no real day."""
    groups = match.groups()
    if kind == "date_iso":
        day = _day(int(groups[0]), int(groups[2]), int(groups[3]))
    elif kind == "date_numeric":
        return _numeric(int(groups[0]), groups[1], int(groups[2]), int(groups[3]))
    elif kind == "date_day_month":
        day = _day(int(groups[2]) if groups[2] else None, MONTHS[groups[1]], int(groups[0]))
    elif kind == "date_month_day":
        day = _day(int(groups[2]) if groups[2] else None, MONTHS[groups[0]], int(groups[1]))
    else:
        return ("date", f"{int(groups[1]):04d}-{MONTHS[groups[0]]:02d}")
    return ("date", day) if day else None


def date_readings(figure: Figure) -> tuple[Figure, ...]:
    """What a date figure may mean: each reading of a two-way numeric date, else the figure itself."""
    return tuple(("date", reading) for reading in figure[1:]) if len(figure) > 2 else (figure,)


def date_forms(figure: Figure) -> tuple[Figure, ...]:
    """What a text stating a date states too: each reading, and for a day with its year that day
    without the year ("6 December") and its month ("December 2026")."""
    forms: list[Figure] = [figure]
    for reading in date_readings(figure):
        text = str(reading[1])
        forms.append(reading)
        if len(text) == 10:  # "2026-12-06"
            forms += [("date", "--" + text[5:]), ("date", text[:7])]
    return tuple(dict.fromkeys(forms))
