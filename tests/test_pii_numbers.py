"""The pii check's number finders on generated numbers next to other numbers: a card number followed or
preceded by other numbers is found (every run of its digit groups is tried), and figures that only look
like a number of some kind (a figure with thousands spaces, quantities with a unit) are not flagged, while
the phone numbers they resemble still are."""

from __future__ import annotations

import random

import pytest

from stages.filter.checks.pii import PiiFinder, issued_prefix, luhn_valid

CARDS = PiiFinder(("card_number",))
PHONES = PiiFinder(("phone",))


def _card(rng: random.Random) -> str:
    """A Luhn-valid 13-19 digit number with an issued prefix (pii.issued_prefix)."""
    while True:
        length = rng.randint(13, 19)
        body = rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(length - 2))
        number = next(body + digit for digit in "0123456789" if luhn_valid(body + digit))
        if issued_prefix(number):
            return number


def _written(rng: random.Random, card: str) -> str:
    """The card as people write it: plain, or in groups of four by spaces or by dashes."""
    separator = rng.choice(["", " ", "-"])
    return separator.join(card[i : i + 4] for i in range(0, len(card), 4)) if separator else card


def _numbers(rng: random.Random) -> str:
    """One or more other numbers, as they follow or precede a card number in a sentence."""
    return rng.choice(
        [
            "12 months",
            "2 3",
            "exp 09/27",
            "x 3",
            " ".join(str(rng.randint(0, 9999)) for _ in range(rng.randint(1, 4))),
            f"{rng.randint(1, 12)} {rng.randint(1, 31)} {rng.randint(2020, 2030)}",
        ]
    )


def _card_texts(seed: int, count: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        card = _card(rng)
        written = _written(rng, card)
        before = _numbers(rng) + " " if rng.random() < 0.5 else ""
        after = " " + _numbers(rng) if not before or rng.random() < 0.5 else ""
        texts.append((card, f"card {before}{written}{after}."))
    return texts


@pytest.mark.parametrize(
    "text",
    [
        "card 4539148803436467 12 months",
        "card 4539 1488 0343 6467 12 months",
        "card 4539-1488-0343-6467 2 3",
        "4539148803436467 2 3 and 4",
        "4539 1488 0343 6467 exp 09/27",
        "4539148803436467 x 3",
        "12 4539148803436467 12",
        "1 2 3 4539-1488-0343-6467 05 27",
        "378282246310005 250 500",  # 15 digits (4-6-5 when grouped)
        "3782 822463 10005 2026",
        "4222222222222 9",  # 13 digits
        "card 4111 1111 1111 1111 999 and 1 2",
        "6011000990139424 3%",  # a percentage after it
    ],
)
def test_pii_card_number_next_to_other_numbers_is_found(text: str) -> None:
    found = CARDS(text)
    assert found is not None and found[0] == "card_number", text
    assert PiiFinder()(text) is not None, text


def test_pii_generated_card_numbers_next_to_other_numbers_are_found() -> None:
    texts = _card_texts(20, 600)
    missed = [text for _, text in texts if CARDS(text) is None]
    assert not missed, f"{len(missed)} of {len(texts)} missed, e.g. {missed[:5]}"
    assert all(PiiFinder()(text) is not None for _, text in texts)


def test_pii_card_number_alone_is_reported_as_itself() -> None:
    """With nothing that makes another run of the digits Luhn-valid, the card found is the card written."""
    rng = random.Random(7)
    for _ in range(300):
        card = _card(rng)
        text = f"the card is {_written(rng, card)} {rng.choice(['12 months', 'x 3', 'exp 09/27'])}"
        assert CARDS(text) == ("card_number", card[:4] + "*" * (len(card) - 8) + card[-4:]), text


def _thousands(rng: random.Random) -> str:
    """A figure of 13-19 digits with thousands spaces ("1 000 000 000 000", "12 345 678 901 234")."""
    head = str(rng.randint(1, 999))
    groups = [rng.choice(["000", "500", "250", f"{rng.randint(0, 999):03d}"]) for _ in range(6)]
    figure = " ".join([head, *groups])
    while sum(char.isdigit() for char in figure) > 19:
        figure = figure.rsplit(" ", 1)[0]
    return figure if sum(char.isdigit() for char in figure) >= 13 else figure + " 000"


def test_pii_figures_with_thousands_spaces_are_not_flagged() -> None:
    rng = random.Random(3)
    texts = ["1 000 000 000 000", "a budget of 1 000 000 000 000 in all", "2 050 000 000 000 people"]
    texts += [rng.choice(["", "about ", "the total is "]) + _thousands(rng) + rng.choice(["", ".", " in all"])
              for _ in range(600)]  # fmt: skip
    flagged = [(text, found) for text in texts if (found := PiiFinder()(text))]
    assert not flagged, f"{len(flagged)} of {len(texts)} flagged, e.g. {flagged[:5]}"


@pytest.mark.parametrize("unit", ["ml", "mL", "l", "cl", "g", "kg", "mg", "mm", "cm", "m", "km", "oz", "lb", "%"])
def test_pii_quantities_with_a_unit_are_not_phone_numbers(unit: str) -> None:
    rng = random.Random(unit)
    texts = ["250 500 1000 ml", "sizes 250 500 1000ml", "250 500 1000 g."]
    for _ in range(40):  # numbers in shapes a phone number takes (NANP by spaces, 3-3-4, 2-4-4, a run)
        a, b, c = rng.randint(200, 999), rng.randint(200, 999), rng.randint(1000, 9999)
        shape = rng.choice([f"{a} {b} {c}", f"{a}-{b}-{c}", f"{a % 90 + 10} {c} {c}", f"{a}{b}{c}"])
        texts.append(f"{rng.choice(['', 'packs of ', 'sizes '])}{shape}{rng.choice(['', ' '])}{unit}")
    flagged = [(text, found) for text in texts if (found := PiiFinder()(text))]
    assert not flagged, f"{len(flagged)} of {len(texts)} flagged, e.g. {flagged[:5]}"


@pytest.mark.parametrize(
    "text",
    [
        "call 250 555 1000 in the morning",  # a word after a phone number is the sentence going on
        "call 415 555 2671 M-F 9-5",
        "call 415 555 2671 m-f",
        "+34 912 345 678 L a V",  # Monday to Friday, in Spanish
        "call 415 555 2671 l.a. office",
        "call 415 555 2671 at 9",
        "415-555-2671 mobile",
        "020 7946 0958 or 1 000 000 000",
        "room 1 020 7946 0958",  # after a number, not in thousands
        "+48 123 456 789",  # a country code, then groups of three
        "0048 123 456 789",
        "tel. 1 +48 123 456 789",
        "1932345678",  # a landline (area code 19) written plain: a Unix timestamp has its shape, so both are flagged
        "call 1734567890",
        "1512345678",
    ],
)
def test_pii_phone_numbers_near_figures_and_units_are_still_found(text: str) -> None:
    found = PHONES(text)
    assert found is not None and found[0] == "phone", text
