"""The pii check: e-mail addresses, phone numbers, card numbers (Luhn-valid), IBANs (mod-97 valid), and
the domain's own kinds.

A teacher model writes realistic-looking personal data into synthetic turns ("my card is 4929 ..."),
and a real number copied into training data is a leak. Card numbers and IBANs are confirmed by their
check digits, so amounts, dates and reference numbers are not mistaken for them, and digits written
after any currency sign or ISO 4217 code as an amount ("₹ 1,250,000", "IDR 1250000000") are never a
phone or card number (a number right after the amount still is), unless they are 13-19 digits in one run
that pass Luhn ("charged EUR 4539148803436467"): a card number. A card number among other numbers is found
("card 4539148803436467 12 months": every run of the digit groups is tried, card_candidates); a figure with
thousands spaces ("1 000 000 000 000") and a quantity with a unit ("250 500 1000 ml") are not a phone or
card number. Where a shape is both a figure and a real number's written form (a Unix timestamp and a
landline of area code 15-19 written plain), it is flagged: a missed number leaks personal data into
training data, a false alarm drops one synthetic row. The kinds are open:
the domain file (seeds/domain.yaml `pii`, core.domain) adds named patterns, each optionally confirmed
by a checksum (luhn, mod97, iban), e.g. a passport number. Findings are masked, so a rejection reason
never repeats the data. The product's own published contact points (the domain file's `public_contacts`:
role addresses, helplines, pages) are not personal data: a finding that is one of them (an e-mail address
in any case, a phone or card number by its digits, a domain detector's value either way) is passed over,
as is anything inside a listed URL, and the next finding in the text is still reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import ClassVar

from pydantic import Field

from stages.core.domain import BUILT_IN_PII_KINDS, PiiDetector, PublicContacts
from stages.core.errors import UserError
from stages.core.params import Section
from stages.core.rows import turns_text
from stages.filter.checks.base import Check, CheckInputs, Row
from stages.filter.figures import CURRENCY

PII_KINDS = BUILT_IN_PII_KINDS  # the built-in kinds (FINDERS); no domain detector is named like one
Finder = Callable[[str], "str | None"]
NO_CONTACTS = PublicContacts()  # no contact point listed

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
CARD_DIGITS = range(13, 20)  # a payment card number's length (ISO/IEC 7812)
PHONE_DIGITS = range(10, 16)  # at most 15 (E.164); fewer than 10 is too often a count or a reference
# A run of digit groups joined by single spaces or dashes, 13 digits or more in all: where card numbers are
# written (plain, "4539 1488 0343 6467", "3782-822463-10005"), maybe with other numbers before or after them
# ("card 4539148803436467 12 months"); card_candidates tries every run of its groups that holds 13-19 digits
_CARD_RUN = re.compile(r"(?<![\d.,])\d(?:[ -]?\d){12,}")
_GROUP = re.compile(r"\d+")
# A figure with thousands spaces ("1 000 000 000 000", "12 345 678 901"): a count or an amount, never a card
# number (written in groups of four, or 4-6-5) nor a phone number that starts inside it (a phone number in
# groups of three with a trunk 0 after another number: "1 000 000 000 000" read as 000 000 000 000)
_THOUSANDS = re.compile(r"(?<![\d.,+])\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?!\d)")
# A unit of measure right after a number ("250 500 1000 ml", "3 x 250 g", "1000 %"): a quantity, not a phone
# number. Lower-case symbols only: a word after a phone number ("in", "at", "M-F", "L a V" for Monday to Friday)
# is the sentence going on; so is a symbol followed by "-", "/" or ".letter" ("m-f", "l.a.")
_UNIT = re.compile(r" ?(?:[mcd]?l|mL|[mk]?g|[mc]?m|km|oz|lbs?|%)(?![\w/-]|\.\w)")
# two capital letters (after no letter or digit: \b), two check digits, then 11-30 letters or digits, in
# groups or not. The first capital comes before the lookbehind that stands for \b: a pattern that starts with
# a character class is searched by that class alone, which skips to the capitals (the search takes about a
# third of the time of one starting with \b on the seeds' variations)
_IBAN = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SEP = r"[ .\-\u00a0\u202f]"  # between a phone number's groups: a space (no-break too), a dot or a dash
# 10-15 digits in all (find_phone). A prefix: a country code after "+" or "00" ("+41", "0033", "+44 (0)"), a
# bracketed area code ("(020)", "(11)"), maybe after a country code or a one-digit trunk prefix ("+55 (11)",
# "8 (495)"), or a trunk 0; then an area code of 1-5 digits ("+33 1", "01", "07700"), a slash maybe ("030/"),
# and 1-4 groups of 2-5 digits. Or NANP: xxx.xxx.xxxx, xxx-xxx-xxxx, or by spaces with area and exchange codes
# starting 2-9 as the plan has them ("415 555 2671"; not "100 250 1000").
_PHONE_PREFIX = (
    rf"(?:\+|00)\d{{1,3}}{_SEP}?(?:\(0\){_SEP}?)?"
    rf"|(?:(?:\+|00)\d{{1,3}}{_SEP}?|[1-9]{_SEP}?)?\(\d{{2,5}}\) ?"
    r"|0"
)
# With no prefix, only shapes a figure does not take: thousands come in groups of three after the first ("8 000
# 000 000"), years in fours ("2021 2022 2023"). Five and five ("98765 43210"); 2-3, 4-5 and 4 digits ("11
# 98765-4321", "138 0013 8000"); 3, 3, 2 and 2 after a one-digit trunk prefix maybe ("8 495 123 45 67"); or
# one run of 10-15 digits ("9876543210", "4155552671"). A run that long has no shape to tell a phone number
# from an order or account number by, so it is flagged: a missed phone number leaks personal data into
# training data, a false alarm drops one synthetic row. So a Unix timestamp ("1712345678") is flagged: Brazil's
# landlines of area codes 15-19 ("1932345678") and Germany's 015x-017x mobiles without their trunk 0 are written
# so. Not after a "#" or a dash, where reference numbers are
# written ("order #12345678901", "SR-1234567890"), nor before a decimal point ("1234567890.50").
_BARE_PHONE = (
    r"[1-9]\d{9,14}|[1-9]\d{4} \d{5}|[1-9]\d{1,2}[ -]\d{4,5}[ -]\d{4}"
    r"|(?:[1-9][ -]?)?\d{3}[ -]\d{3}[ -]\d{2}[ -]\d{2}"
)
_PHONE = re.compile(
    rf"(?<![\w.,+])(?:{_PHONE_PREFIX})\d{{1,5}}(?: ?/ ?|{_SEP}?)\d{{2,5}}(?:{_SEP}?\d{{2,5}}){{0,3}}(?![\w%])"
    r"|(?<![\w.,])\d{3}[.-]\d{3}[.-]\d{4}(?!\w)"
    r"|(?<![\w.,])[2-9]\d{2} [2-9]\d{2} \d{4}(?!\w)"
    rf"|(?<![\w.,+#/-])(?:{_BARE_PHONE})(?![\w%]|[.,]\d)"
)
# A date, day first or year first ("01.02.2024", "01.02.24", "2024-01-08"), or a span of clock times or years: a phone
# number never holds one, so a run that does is dates and a time ("01.02.2024-28.02.2024", "01.02.2024 10:45",
# "01.02.24 10.45"). A two-digit year only where the groups stop: "06.12.34.56.78" is a phone number.
_DATE = re.compile(
    r"(?<!\d)\d{1,2}([./-])\d{1,2}\1(?:19|20)\d\d(?!\d)"
    r"|(?<![\d./-])\d{1,2}([./-])\d{1,2}\2\d\d(?![./-]?\d)"
    r"|(?<!\d)(?:19|20)\d\d([./-])\d{1,2}\3\d{1,2}(?!\d)"
    # ... or a span of clock times, as opening hours are written: "07.30-12.00 13.00-17.30", "9:00 - 17:30"
    r"|(?<![\d.:])(?:[01]?\d|2[0-3])[.:][0-5]\d ?[-\u2013] ?(?:[01]?\d|2[0-3])[.:][0-5]\d(?![\d.:]?\d)"
    # ... or a span of years ("the top 10 2024-2025"; a phone number ends so one time in about 2,500)
    r"|(?<!\d)(?:19|20)\d\d[-/\u2013](?:19|20)\d\d(?!\d)"
)
# An amount after any currency sign or ISO 4217 code (figures.CURRENCY; one space or none between), as amounts
# are written: "₹ 1,250,000", "INR 12,50,000.50", "CHF 1'250'000", "₽ 1 000 000 000 000" (groups of three). Not
# "0" then a digit, and not digits that go on in groups ("€ 0800 123 4567", "USD 4111 1111 1111 1111"): those
# are a phone or card number however they are introduced.
_AMOUNT = re.compile(
    rf"{CURRENCY}[ \t\u00a0\u202f]?(?!0\d)"
    r"(\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d+(?:[.,'’]\d+)*)(?![\d\u00a0\u202f]|[ .-]\d)"
)
_DIGIT = re.compile(r"\d")  # as the patterns count digits (any Unicode decimal digit)
# IBAN length per country (ISO 13616 registry), for the SEPA countries and their neighbours
IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24,
    "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27,
    "LT": 20, "LU": 20, "LV": 21, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24,
    "SI": 19, "SK": 24, "TR": 26,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """The Luhn check every payment card number satisfies (ISO/IEC 7812)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def mod97_valid(value: str) -> bool:
    """ISO 7064 MOD 97-10 on the value as written (letters as 10..35): the remainder is 1."""
    compact = re.sub(r"[^A-Za-z0-9]", "", value).upper()
    return bool(compact) and int("".join(str(int(char, 36)) for char in compact)) % 97 == 1


def iban_valid(iban: str) -> bool:
    """ISO 13616 check: the country's length, then country code and check digits moved to the end, mod 97-10."""
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    return mod97_valid(iban[4:] + iban[:4])


def _mask(text: str, keep: int = 2) -> str:
    """`text` with all but `keep` characters at each end starred (all starred if it is that short)."""
    return text[:keep] + "*" * max(0, len(text) - 2 * keep) + text[-keep:] if len(text) > 2 * keep else "*" * len(text)


def amount_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each amount written after a currency in `text` (_AMOUNT), except a run of 13-19
    digits with no group separators that passes Luhn: a card number, even right after a currency
    ("charged EUR 4539148803436467"). Amounts that long are written in groups or with decimals; ungrouped,
    they are vanishingly rare, and only one in ten of those passes Luhn."""
    return [
        amount.span(1)
        for amount in _AMOUNT.finditer(text)
        if not (amount.group(1).isdecimal() and luhn_card_like(amount.group(1)))
    ]


def outside_amounts(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Every match of `pattern` in `text`, from each place it can start, left to right (a caller that
    rejects one gets the next, even one inside it: "$5 4111 1111 1111 1111"), except those starting
    inside an amount written after a currency (amount_spans), which is never a phone or card number."""
    amounts: list[tuple[int, int]] | None = None  # found only when the pattern matches: most texts have none
    position = 0
    while (match := pattern.search(text, position)) is not None:
        if amounts is None:
            amounts = amount_spans(text)
        end = next((end for start, end in amounts if start <= match.start() < end), None)
        if end is None:
            yield match
        position = match.start() + 1 if end is None else end


def card_candidates(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, digits) of every run of 13-19 digits, whole digit groups joined by single spaces or
    dashes (_CARD_RUN), in each run of groups the text holds: earliest start first, then longest first.
    A number before or after a card number ("12 4539148803436467 12 months") joins its run, so every
    run of groups is tried, not only the longest. Left out: runs that start inside an amount written
    after a currency (amount_spans), a last group before "%" (a percentage), and runs in a figure with
    thousands spaces (_THOUSANDS). A run of g groups has at most 7g candidates (7 lengths)."""
    amounts: list[tuple[int, int]] | None = None  # found only when a run is: most texts have none
    for run in _CARD_RUN.finditer(text):
        groups = [group.span() for group in _GROUP.finditer(text, run.start(), run.end())]
        if text.startswith("%", run.end()):
            groups.pop()
        if amounts is None:
            amounts = amount_spans(text)
        figures = [figure.span() for figure in _THOUSANDS.finditer(text, run.start(), run.end())]
        for first, (start, _) in enumerate(groups):
            if any(low <= start < high for low, high in amounts):
                continue
            ends, digits = [], 0
            for group_start, end in groups[first:]:
                digits += end - group_start
                if digits > CARD_DIGITS.stop - 1:
                    break
                if digits in CARD_DIGITS and not any(low <= start and end <= high for low, high in figures):
                    ends.append(end)
            for end in reversed(ends):
                yield start, end, re.sub(r"\D", "", text[start:end])


def find_card_number(text: str, public: PublicContacts = NO_CONTACTS) -> str | None:
    """The first Luhn-valid run of 13-19 digits with an issued prefix (issued_prefix) among
    card_candidates that is not a listed phone number (`public`), masked; else None."""
    for _, _, digits in card_candidates(text):
        if luhn_card_like(digits) and digits not in public.phones:
            return _mask(digits, 4)
    return None


def find_iban(text: str) -> str | None:
    """The first IBAN with valid length and mod-97 check digits, masked; else None."""
    for match in _IBAN.finditer(text):
        compact = match.group(0).replace(" ", "")
        expected = IBAN_LENGTHS.get(compact[:2])
        # the pattern may run on into following capitals: try the country's length first
        for length in [expected] if expected else range(min(len(compact), 34), 14, -1):
            if length <= len(compact) and iban_valid(compact[:length]):
                return _mask(compact[:length], 4)
    return None


def find_phone(text: str, public: PublicContacts = NO_CONTACTS) -> str | None:
    """The first phone number (10-15 digits, not a card number, not an amount, holding no date, not a
    quantity (_UNIT after it), not inside a figure with thousands spaces that starts before it, not a
    listed one (`public`, by its digits) nor starting inside one), masked; else None."""
    figures: list[tuple[int, int]] | None = None  # found only for a match that is otherwise a phone number
    listed_until = -1  # where the last listed number found ends: a match starting before is part of it
    for match in outside_amounts(_PHONE, text):
        digits = re.sub(r"\D", "", match.group(0))
        if digits in public.phones:
            listed_until = match.end()
        if (
            match.start() < listed_until
            or len(digits) not in PHONE_DIGITS
            or luhn_card_like(digits)
            or _DATE.search(match.group(0))
            or _UNIT.match(text, match.end())
        ):
            continue
        if figures is None:
            figures = [figure.span() for figure in _THOUSANDS.finditer(text)]
        if not any(low < match.start() and match.end() <= high for low, high in figures):
            return _mask(digits, 2)
    return None


def luhn_card_like(digits: str) -> bool:
    """Whether a digit string could be a card number: 13-19 digits passing Luhn, with an issued prefix."""
    return len(digits) in CARD_DIGITS and issued_prefix(digits) and luhn_valid(digits)


def issued_prefix(digits: str) -> bool:
    """Whether card numbers start this way (ISO/IEC 7812 major industry identifier, and the ranges of the
    schemes that use 1 and 2): never 0; 1 only in 15-digit numbers (UATP); 2 only in 2200-2204 (Mir) and
    2221-2720 (Mastercard). So runs of years ("2023 2024 2025 2026", "1991 1992 ..."), of which one in ten
    passes Luhn, are not card numbers; 3-9 are left open (every scheme, fleet and national cards)."""
    first = int(digits[0])
    if first == 0:
        return False
    if first == 1:
        return len(digits) == 15
    if first == 2:
        head = int(digits[:4])
        return 2200 <= head <= 2204 or 2221 <= head <= 2720
    return True


def find_email(text: str, public: PublicContacts = NO_CONTACTS) -> str | None:
    """The first e-mail address that is not a listed one (`public`, in any case), its local part masked; else None."""
    for match in _EMAIL.finditer(text):
        if match.group(0).lower() not in public.emails:
            local, _, domain = match.group(0).partition("@")
            return f"{_mask(local, 1)}@{domain}"
    return None


def without_contacts(text: str, public: PublicContacts) -> str:
    """`text` with each listed contact point (`public`: an e-mail address in any case, a phone number by
    its digits, a URL) blanked to spaces of its length, so other checks read no figure in a helpline's
    digits; unchanged when none is listed."""
    if not public:
        return text
    spans = public.url_spans(text)
    spans += [m.span() for m in _EMAIL.finditer(text) if m.group(0).lower() in public.emails]
    spans += [m.span() for m in outside_amounts(_PHONE, text) if re.sub(r"\D", "", m.group(0)) in public.phones]
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def digit_count(text: str) -> int:
    """How many digits `text` holds, as the patterns count them (\\d: any Unicode decimal digit); an ASCII
    text's by str.count, which is faster than a regex."""
    return sum(map(text.count, "0123456789")) if text.isascii() else len(_DIGIT.findall(text))


FINDERS: dict[str, Finder] = {
    "email": find_email, "phone": find_phone, "card_number": find_card_number, "iban": find_iban,
}  # fmt: skip
CONTACT_AWARE = frozenset({"email", "phone", "card_number"})  # the finders that take `public` (an IBAN is no contact)
# What the smallest text each built-in finder can find holds, for PiiFinder's pre-screen: (digits, a
# character). An e-mail address needs its @; a phone or card number its fewest digits (PHONE_DIGITS,
# CARD_DIGITS), written in groups of any size; an IBAN only its two check digits (_IBAN: the rest may be letters).
NEEDS: dict[str, tuple[int, str]] = {
    "email": (0, "@"), "phone": (PHONE_DIGITS.start, ""), "card_number": (CARD_DIGITS.start, ""), "iban": (2, ""),
}  # fmt: skip


CHECKSUMS: dict[str, Callable[[str], bool]] = {
    "luhn": lambda value: (digits := re.sub(r"\D", "", value)) != "" and luhn_valid(digits),
    "mod97": mod97_valid,
    "iban": lambda value: iban_valid(re.sub(r"\s", "", value).upper()),
}


def detector_finder(detector: PiiDetector, public: PublicContacts = NO_CONTACTS) -> Finder:
    """The finder of a domain detector: the first match of its pattern (group 1 if it has groups) that
    passes its checksum and is no listed contact point (`public`), masked; else None."""
    pattern, checksum = detector.compiled(), CHECKSUMS[detector.checksum] if detector.checksum else None

    def find(text: str) -> str | None:
        for match in pattern.finditer(text):
            value = match.group(1) if pattern.groups else match.group(0)
            if value and (checksum is None or checksum(value)) and not public.holds(value):
                return _mask(value, 2)
        return None

    return find


@dataclass(frozen=True)
class PiiFinder:
    """The first personal-data finding in a text, as (kind, masked value): built-in kinds by name,
    then `extra` (name, finder) pairs, in that order; none that is one of the `public` contact points."""

    kinds: tuple[str, ...] = PII_KINDS
    extra: tuple[tuple[str, Finder], ...] = ()
    public: PublicContacts = NO_CONTACTS

    @cached_property
    def _built_in(self) -> tuple[tuple[str, int, str, Finder], ...]:
        """(kind, fewest digits, a character it needs, finder) for each of `kinds` (NEEDS, FINDERS; given
        the contact points if any are listed)."""
        aware = CONTACT_AWARE if self.public else frozenset()
        finders = {
            kind: partial(FINDERS[kind], public=self.public) if kind in aware else FINDERS[kind] for kind in self.kinds
        }
        return tuple((kind, *NEEDS[kind], finders[kind]) for kind in self.kinds)

    def __call__(self, text: str) -> tuple[str, str] | None:
        """(kind, masked value) of the first kind found in `text`, else None. A built-in kind's finder runs
        only on a text with what its smallest match holds (NEEDS): most texts have few digits and no @.
        The domain's finders (`extra`) run on every text: their patterns may need neither. Listed URLs
        are taken out first (PublicContacts.without_urls)."""
        if self.public.urls:
            text = self.public.without_urls(text)
        digits = digit_count(text)
        for kind, fewest, character, find in self._built_in:
            if digits >= fewest and character in text and (found := find(text)):
                return kind, found
        for kind, finder in self.extra:
            found = finder(text)
            if found:
                return kind, found
        return None


def build_finder(
    kinds: Sequence[str], detectors: Sequence[PiiDetector], public: PublicContacts = NO_CONTACTS
) -> PiiFinder:
    """The finder for params `kinds` (built-in kinds, or names of `detectors`) plus every domain
    detector not listed, after them (no detector is named like a built-in kind: core.domain validates
    that), passing over the `public` contact points. UserError for an unknown kind."""
    custom = {d.name: detector_finder(d, public) for d in detectors}
    unknown = [kind for kind in kinds if kind not in FINDERS and kind not in custom]
    if unknown:
        raise UserError(
            f"params filter.pii.kinds: unknown kind(s) {unknown}; built-in: {list(FINDERS)}, from the domain"
            f" file's pii detectors: {list(custom)}"
        )
    built_in = tuple(kind for kind in kinds if kind in FINDERS)
    order = [kind for kind in kinds if kind in custom] + [name for name in custom if name not in kinds]
    return PiiFinder(built_in, tuple((name, custom[name]) for name in order), public)


class PiiParams(Section):
    """`filter.pii`: the kinds of personal data to look for, in this order (built-in kinds, or the
    names of the domain file's detectors; detectors not listed run after these)."""

    kinds: list[str] = Field(default=list(PII_KINDS), min_length=1)


@dataclass(frozen=True)
class PiiCheck(Check):
    """Rejects personal data in any user or assistant turn ("pii: card_number in user text (4111********1111)")."""

    name: ClassVar[str] = "pii"
    Params: ClassVar[type[Section]] = PiiParams
    run_order: ClassVar[int] = 30

    finder: PiiFinder

    @classmethod
    def build(cls, params: PiiParams, inputs: CheckInputs) -> PiiCheck:
        """The check for the kinds params list, the domain's detectors and public contact points (`inputs.domain`)."""
        domain = inputs.domain
        return cls(
            build_finder(params.kinds, domain.pii if domain else (), domain.contacts() if domain else NO_CONTACTS)
        )

    def check(self, row: Row) -> str | None:
        """`pii: <kind> in <role> text (<masked>)` for the first finding, user turns first; else None."""
        for role in ("user", "assistant"):
            found = self.finder(turns_text(row, role))
            if found:
                kind, masked = found
                return f"pii: {kind} in {role} text ({masked})"
        return None
