"""Filter checks one by one, on the tests' own fixture data: each rejects what it should, with a reason,
and keeps what it should. What must hold for the seeds a repository ships is in test_seeds_domain.py;
the bank example's own figures are in test_example_bank.py."""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

import pytest
from pydantic import ValidationError

from stages.core.domain import Domain, PiiDetector
from stages.core.errors import UserError
from stages.filter.checks.base import CheckInputs, registered
from stages.filter.checks.blocklist import BlocklistCheck, compile_blocklist
from stages.filter.checks.boilerplate import AiBoilerplateCheck, RefusalCheck
from stages.filter.checks.intent import IntentCheck, IntentClassifier, IntentParams
from stages.filter.checks.language import LanguageCheck, LanguageParams
from stages.filter.checks.length import LengthCheck, LengthParams
from stages.filter.checks.pii import (
    FINDERS,
    PII_KINDS,
    PiiCheck,
    PiiFinder,
    build_finder,
    iban_valid,
    luhn_valid,
    mod97_valid,
)
from stages.filter.checks.repetition import RepetitionCheck, RepetitionParams
from stages.filter.params import FilterParams
from stages.generate.params import GenerateParams
from stages.generate.stage import generate_builtin
from tests.conftest import make_project, read_rows, run_stage


def chat(user: str, assistant: str = "Open the app and go to Orders > Report a problem.", **extra: object) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}], **extra}


@cache
def _fixture_seed_rows(tmp: str = "/tmp") -> tuple[dict, ...]:
    """The fixture project's human seed rows (tests/conftest.py), 6 per intent, built once."""
    import tempfile

    root = make_project(Path(tempfile.mkdtemp(prefix="fixture-seeds-", dir=tmp)), cases_per_intent=6)
    run_stage("seed", root)
    return tuple(read_rows(root / "data/seed/seeds.jsonl"))


def test_length_check() -> None:
    check = LengthCheck(
        LengthParams(min_user_chars=5, max_user_chars=20, min_assistant_chars=5, max_assistant_chars=30)
    )
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]}
    assert check.check(row) == "user_too_short: 2 < 5 chars"
    row["messages"][0]["content"] = "x" * 25
    assert check.check(row) == "user_too_long: 25 > 20 chars"
    row["messages"][0]["content"] = "fine question"
    row["messages"][1]["content"] = "y" * 31
    assert check.check(row) == "assistant_too_long: 31 > 30 chars"
    assert check.check_batch([row, chat("fine question", "short reply")]) == [
        "assistant_too_long: 31 > 30 chars",
        None,
    ]


def test_blocklist_matches_whole_phrases_only() -> None:
    check = BlocklistCheck(compile_blocklist(["as an ai", "idiot"]))
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "As an AI, I cannot."}]}
    assert check.check(row) == "blocklist: as an ai"
    row["messages"][1]["content"] = "Idiotic fees are not something we charge."
    assert check.check(row) is None


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111111111111111", True),
        ("4539148803436467", True),
        ("378282246310005", True),
        ("4111111111111112", False),
        ("4539148803436468", False),
        ("1234567812345678", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("GB82WEST12345698765432", True),
        ("DE89370400440532013000", True),
        ("FR1420041010050500013M02606", True),
        ("GB82WEST12345698765433", False),
        ("DE89370400440532013001", False),
        ("GB82WEST1234569876543", False),
    ],
)
def test_iban_checksum(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid


def test_mod97_checksum() -> None:
    base = "5493001KJTIIGC8Y1R"  # an ISO 17442 LEI body: its two check digits make MOD 97-10 equal 1
    check_digits = 98 - int("".join(str(int(char, 36)) for char in base + "00")) % 97
    assert mod97_valid(f"{base}{check_digits:02d}") is True
    assert mod97_valid(f"{base}{(check_digits + 1) % 100:02d}") is False


def test_pii_check_finds_personal_data_and_masks_it() -> None:
    check = PiiCheck(PiiFinder()).check
    found = {
        "the number on it is 4111 1111 1111 1111, can you check it": "card_number",
        "it's 4539-1488-0343-6467": "card_number",
        "send it to GB82 WEST 1234 5698 7654 32 please": "iban",
        "email me at jane.doe@example.co.uk": "email",
        "call me on 07700 900123": "phone",
        "my number is +44 20 7946 0018": "phone",
    }
    for text, kind in found.items():
        reason = check(chat(text))
        assert reason is not None and reason.startswith(f"pii: {kind} in user text"), text
        assert "1111 1111 1111" not in reason and "900123" not in reason  # masked
    clean = [
        "the number 4111 1111 1111 1112 was declined",  # fails Luhn: not a card number
        "the limit is €25,000 per day and $10,000 per order",
        "I paid on 2026-01-08 at 4pm and it said 3 to 5 working days",
        "order 12-34-56, reference 12345678, 0.5% fee",
        "IBAN GB82 WEST 1234 5698 7654 33",  # wrong check digits
    ]
    for text in clean:
        assert check(chat(text)) is None, text
    assert check(chat("hi", "Your IBAN is DE89370400440532013000.")).startswith("pii: iban in assistant text")
    only_emails = PiiCheck.build(FilterParams(pii={"kinds": ["email"]}).pii, CheckInputs())
    assert only_emails.check(chat("call me on 07700 900123")) is None


@pytest.mark.parametrize(
    "text",
    [
        "₹ 1,250,000 was the cap",  # any currency sign, glued or spaced ...
        "¥ 980000 and ¥980000",
        "CHF 1'250'000 or R$ 1.234.567",
        "IDR 1250000000000.00 in the 2026 report",  # ... or ISO 4217 code; Luhn-valid, with decimals
        "₹1250000000000 was the cap",  # ungrouped and Luhn-valid, but no card number starts 1 at 13 digits
        "IDR 1250000000000 in the 2026 report",
        "₹1,250,000,000,000 and £ 125000000000",  # Luhn-valid but grouped; 12 digits ungrouped
        "a budget of ₽ 1 000 000 000 000 for 2026",  # groups of three: "000 000 000 000" read as a phone number
        "THB 1 000 000 000 000 in 2026",
        "₦ 1 000 000 000 000 and 2026",
        "R$ 2 050 000 000 000 (2026)",
        "₺ 10 000 000 000 000, year 2026",
        "VND 1 170 000 000 000, 2026 figures",  # grouped by spaces, Luhn-valid: read as a card number
        "CHF 1'250'000'000'000 and ₩1,250,000,000,000 in 2026",
    ],
)
def test_pii_amounts_after_any_currency_are_not_phone_or_card_numbers(text: str) -> None:
    assert PiiFinder()(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("paid ₹500 09876 543210", "phone"),  # right after an amount
        ("₹ 12,50,000 or call 09876 543210", "phone"),
        ("paid €20 020 7946 0958", "phone"),
        ("₽1 000 000 000 000 then 07700 900123", "phone"),
        ("¥08012345678", "phone"),  # "0" then a digit is no amount
        ("R$ 0800 123 4567", "phone"),
        ("JPY 080-1234-5678", "phone"),
        ("₦ 123-456-7890", "phone"),
        ("USD +44 20 7946 0018", "phone"),
        ("USD 4111 1111 1111 1111", "card_number"),  # digits that go on in groups are no amount
        ("$5 4111 1111 1111 1111", "card_number"),
        ("paid ₺150, card 4539 1488 0343 6467", "card_number"),
        ("₩4111111111111111 then 4539-1488-0343-6467", "card_number"),
        ("order 5 4111 1111 1111 1111", "card_number"),  # a rejected run is tried again from its next group
        ("They charged EUR 4539148803436467 to me.", "card_number"),  # 13-19 digits, no groups, Luhn-valid:
        ("Charged £4539148803436467 today", "card_number"),  # a card number even right after a currency
        ("USD 4111111111111111", "card_number"),
        ("₹5250000000006 was the cap", "card_number"),  # ungrouped, Luhn-valid, issued prefix: a card
        ("¥ 6011000990139424, ¥ 980000", "card_number"),
    ],
)
def test_pii_numbers_next_to_amounts_are_still_found(text: str, kind: str) -> None:
    found = PiiFinder()(text)
    assert found is not None and found[0] == kind, text


def test_pii_kinds_are_open_the_domain_adds_its_own() -> None:
    passport = PiiDetector(name="passport_number", pattern=r"(?i:passport)(?:\s+number)?\s*(?:is|:)?\s*([A-Z]\d{7})")
    loyalty = PiiDetector(name="loyalty_number", pattern=r"\bFB-(\d{8})\b", checksum="luhn")
    domain = Domain(product="P", system_prompt="s", pii=[passport, loyalty])
    check = PiiCheck.build(FilterParams(pii={"kinds": ["email", "passport_number"]}).pii, CheckInputs(domain=domain))
    assert check.check(chat("my passport number is X1234567")) == "pii: passport_number in user text (X1****67)"
    assert check.check(chat("my passport expires in 2027")) is None
    assert check.check(chat("card FB-79927398 please")) == "pii: loyalty_number in user text (79****98)"  # Luhn
    assert check.check(chat("card FB-79927397 please")) is None  # fails Luhn: a look-alike
    assert check.check(chat("call me on 07700 900123")) is None  # phone is not listed in kinds
    with pytest.raises(UserError, match=r"filter.pii.kinds: unknown kind\(s\) \['visa'\]"):
        build_finder(["email", "visa"], [passport])
    with pytest.raises(ValidationError, match=r"'email' is a built-in kind of the pii check"):
        PiiDetector(name="email", pattern="x+")


def _unscreened(text: str, kinds: tuple[str, ...] = PII_KINDS) -> tuple[str, str] | None:
    """What PiiFinder answers, every built-in finder run on the text with no pre-screen."""
    return next(((kind, found) for kind in kinds if (found := FINDERS[kind](text))), None)


def _luhn_number(rng: random.Random, length: int) -> str:
    body = "".join(rng.choice("0123456789") for _ in range(length - 1))
    return next(body + digit for digit in "0123456789" if luhn_valid(body + digit))


def _iban(country: str, bban: str) -> str:
    check_digits = 98 - int("".join(str(int(char, 36)) for char in bban + country + "00")) % 97
    return f"{country}{check_digits:02d}{bban}"


def _pii_forms(rng: random.Random) -> list[str]:
    """Generated forms of every built-in kind: phone numbers in 2-6 groups of 1-5 digits after a country code,
    a trunk 0 or none, card numbers of 13-19 digits grouped or not, IBANs whose check digits are their only
    digits, e-mail addresses; each in a short text."""
    digits = "0123456789"
    forms = []
    for _ in range(400):
        longest = rng.choice([3, 5])  # half in groups of at most 3 digits ("+41 44 668 18 00")
        groups = ["".join(rng.choice(digits) for _ in range(rng.randint(1, longest))) for _ in range(rng.randint(2, 6))]
        start = rng.choice(["+" + str(rng.randint(1, 999)) + rng.choice([" ", "", "-"]), "0", "", "("])
        number = (
            start
            + (groups[0] + ") " if start == "(" else groups[0])
            + "".join(rng.choice([" ", ".", "-", "", "\u00a0"]) + group for group in groups[1:])
        )
        card = _luhn_number(rng, rng.randint(13, 19))
        spaced = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(11, 20)))
        local = "".join(rng.choice("abcxyz.") for _ in range(rng.randint(1, 6))).strip(".") or "a"
        for form in (number, card, spaced, _iban("QZ", bban), f"{local}@ex.io"):
            forms.append(rng.choice(["", "call ", "it is ", "€ ", "EUR "]) + form + rng.choice(["", ".", " now"]))
    return forms


def test_pii_pre_screen_never_hides_what_the_finders_find() -> None:
    rng = random.Random(17)
    alphabet = "0123456789012345678901234567890123456789    +-.()@€$%ABQZab"
    noise = ["".join(rng.choice(alphabet) for _ in range(rng.randint(4, 40))) for _ in range(3000)]
    noise += [text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")) for text in noise[:500]]  # \d: any digit
    forms = _pii_forms(rng)
    assert sum(_unscreened(text) is not None for text in forms) > len(forms) // 2  # most forms are found
    for text in forms + noise:
        assert PiiFinder()(text) == _unscreened(text), text
        for kind in PII_KINDS:
            assert PiiFinder((kind,))(text) == _unscreened(text, (kind,)), (kind, text)
    smallest = {  # the fewest digits each kind can be found with
        "email": "a@b.io",
        "phone": "01 23 45 67 89",
        "card_number": "4222222222222",
        "iban": _iban("QZ", "ABCDEFGHIJK"),
    }
    assert PiiFinder()("+٤١ ٤٤ ٦٦٨ ١٨ ٠٠") is not None  # Arabic-Indic digits, which the patterns' \d match
    for kind, text in smallest.items():
        assert PiiFinder((kind,))(text) is not None, kind


def test_pii_domain_detectors_are_not_pre_screened() -> None:
    member = PiiDetector(name="member_code", pattern=r"\bmember code ([A-Z]{6})\b")  # no digit, no @
    finder = build_finder(["email"], [member])
    assert finder("my member code ABCDEF") == ("member_code", "AB**EF")
    assert finder("my member code abcdef") is None


@pytest.mark.parametrize(
    "text",
    [
        "Call me on +41 44 668 18 00.",  # E.164 in groups of two and three digits
        "+33 1 23 45 67 89",  # E.164, a one-digit area code
        "+33 6 12 34 56 78 is my mobile",
        "+31 6 12345678",
        "+46 8 123 456 78",
        "+61 2 9876 5432",
        "+32 2 123 45 67",
        "+33\u00a01\u00a023\u00a045\u00a067\u00a089",  # no-break spaces
        "01 23 45 67 89",  # national: trunk 0, one-digit area code
        "ring 06.12.34.56.78 after six",
        "02 9876 5432",
        "(020) 7946 0958",
        "415 555 2671",  # NANP with spaces
        "+1 415 555 2671",
        "call 415.555.2671",
        "030/12345678",  # a slash after the area code
        "030 / 1234 5678",
        "+49 30/12345678",
        "98765 43210",  # two groups of five
        "text me on 9876543210",  # a bare run of 10-15 digits (find_phone: flagged by the cost of a miss)
        "call 4155552671 or",
        "13800138000",
        "Transfer ₹ 500 and text 98765 43210",  # after an amount
        "(11) 98765-4321",  # a bracketed area code with no trunk 0
        "(11) 2345-6789",
        "11 98765-4321",  # area code, then groups of 4-5 and 4
        "+55 (11) 98765-4321",  # a country code, then a bracketed area code
        "138 0013 8000",
        "8 (495) 123-45-67",  # a one-digit trunk prefix, then a bracketed area code
        "8 495 123 45 67",  # groups of 3, 3, 2, 2
        "495 123-45-67",
        "0033 1 23 45 67 89",  # the 00 international prefix, a one-digit area code
    ],
)
def test_pii_phone_numbers_in_common_written_forms(text: str) -> None:
    found = PiiFinder()(text)
    assert found is not None and found[0] == "phone", text


@pytest.mark.parametrize(
    "text",
    [
        "€ 1 250 000 and 2 500 000 € in 2024",  # amounts, any currency, written as they are
        "£1,250,000.00 or USD 12,345,678.90",
        "₹ 12,50,00,000 (2024-2025)",
        "CHF 1'250'000.50, R$ 1.234.567,89 and ¥ 980000",
        "JPY 1 234 567 890 or 1 234 567 890 JPY",
        "prices €0.99 €1.99 €2.99 €4.99",
        "10 45 30",  # times
        "from 10:45:30 to 11:15:00, then 09:00 - 17:30",
        "2024 2025",  # years
        "in 2021 2022 2023 2024 2025",
        "1 000 000",  # counts
        "1 000 000 000 users",
        "12.5%",  # percentages
        "+12.5% and -3.5%, up 0.25% to 10.75%",
        "3 x 250 g",  # order quantities
        "order 12 x 500 ml and 6 x 1000 ml",
        "01.02.2024 10:45",  # dates
        "08-01-2024 14:30",
        "2024-01-08 10:45:30",
        "01.02.2024-28.02.2024",
        "on 01.02.24 10.45",
        "rates 0.12 0.25 0.50 0.75 1.00",
        "open 07.30-12.00 13.00-17.30",  # opening hours
        "open 8:00 - 12:30, 13:30 - 18:00 on 01.02.2024",
        "09.00-17.30 weekdays, 10.00-14.00 Saturdays",
        "years 2023 2024 2025 2026",  # runs of years pass Luhn one time in ten: no card starts 20xx or 19xx
        "2023-2024-2025-2026 and 1991 1992 1993 1994",
        "from 2010 2011 2012 2013 to 2029 2030 2031 2032",
        "order #123456789 and ticket #12345678901",  # a reference number after its "#"
        "ref AB-1234-5678, case CS-2024-000123-45",  # reference numbers with letters and dashes
        "ticket INC-20240108-0042 and SR-1234567890",
        "app v2.10.3 (build 2024.01.08.1045)",  # versions
        "costs 12 500, or 1 250 000 000 in all",  # money with no currency, in groups of three
        "75008 Paris, 10115 Berlin, SW1A 1AA, 94105-1234",  # postcodes
        "between 10:45:30 and 11:15:00",  # times
        "8 000 000 000 people, 8 500 000 users",  # counts after a single digit
        "in 2023-2024 and 2024/2025, 3 1/2 years",
        "the top 10 2024-2025 rankings",  # a span of years
        "pay 1234567.89 or 12345678.90",  # decimals
    ],
)
def test_pii_figures_are_not_phone_numbers(text: str) -> None:
    assert PiiFinder()(text) is None


def test_refusal_and_boilerplate() -> None:
    check_refusal, check_ai_boilerplate = RefusalCheck().check, AiBoilerplateCheck().check
    for text in ["I'm sorry, but I'm unable to help with that.", "I can't help you with that request.",
                 "There is nothing more we can do."]:  # fmt: skip
        assert check_refusal(chat("help", text)), text
    for text in ["I'm afraid a delivered order can't be cancelled, but you can return it.",
                 "Open the app and go to Orders > Report a problem."]:  # fmt: skip
        assert check_refusal(chat("help", text)) is None, text
        assert check_ai_boilerplate(chat("help", text)) is None, text
    for text in ["As an AI language model, I cannot access your account.", "I'm just an AI, sorry.",
                 "Sure! Here's a rewritten version of the message: my order is late", "Regards, [Your Name]",
                 "This answer was written by ChatGPT."]:  # fmt: skip
        assert check_ai_boilerplate(chat("q", text)), text
    assert check_ai_boilerplate(chat("Here is a paraphrased version of the query: order late")).endswith("user text")
    # A template's unfilled slot is caught whatever the domain names it; brackets that are not a slot pass.
    for slot in ["[Company Name]", "[order number]", "[Customer]", "[your e-mail]", "[hotel phone]", "[name]"]:
        assert check_ai_boilerplate(chat("q", f"Thanks, {slot} will call you back.")), slot
    for text in ["Tap [Settings] then [Help].", "See rule [3] of the terms.", "Press [Done] when finished."]:
        assert check_ai_boilerplate(chat("q", text)) is None, text


def test_language_check() -> None:
    check = LanguageCheck(LanguageParams(min_words=6, min_latin_share=0.9)).check
    rejected = {
        "Hola, mi pedido no ha llegado todavía y lo pedí hace dos semanas, qué hago": "Spanish",
        "Hallo, meine Bestellung ist noch nicht angekommen, obwohl ich sie bezahlt habe": "German",
        "Bonjour, ma commande n'est toujours pas arrivée et je l'ai payée il y a deux semaines": "French",
        "Мой заказ не пришёл, что делать?": "not Latin",
        "I was charged Â£5 for the orderâ€™s delivery": "mojibake",
        "my order \ufffd is lost": "U+FFFD",
        "my order\u200b is lost": "U+200B",
    }
    for text, expected in rejected.items():
        reason = check(chat(text))
        assert reason is not None and expected in reason, (text, reason)
    kept = ["order not arrived 2 weeks ago wat do pls help asap", "hey sub i cancelled months ago still charging",
            "Café in Paris charged me twice, can you help?", "paid €7 for express and it's been 4 days!!!"]  # fmt: skip
    assert all(check(chat(text)) is None for text in kept)


def test_repetition_check() -> None:
    check = RepetitionCheck(RepetitionParams(max_duplicate_share=0.5, cross_turn_words=5)).check
    pasted = {"messages": [
        {"role": "user", "content": "I'm travelling abroad at the moment and can my kid have an account?"},
        {"role": "assistant", "content": "How old is your child?"},
        {"role": "user", "content": "I'm travelling abroad at the moment and she's 18 in a couple of weeks"},
        {"role": "assistant", "content": "Customers must be 18 or over, so she can apply in a couple of weeks."},
    ]}  # fmt: skip
    assert check(pasted) == 'repetition: two user turns share "i\'m travelling abroad at the"'
    loop = "Please report the missing item now. " * 8
    assert "of word 3-grams repeat" in check(chat("missing item", loop))
    assert "4 times running" in check(chat("no no no no my order is gone"))
    assert check(chat("lost my order yesterday", "Report it in Orders > Report a problem.")) is None
    assert RepetitionCheck(RepetitionParams(cross_turn_words=0)).check(pasted) is None  # can be switched off


def test_intent_classifier_catches_a_mislabelled_row() -> None:
    classifier = IntentClassifier.train(list(_fixture_seed_rows()))
    assert classifier is not None
    check = IntentCheck(classifier, IntentParams(margin=0.4, min_probability=0.0))
    late = next(row for row in _fixture_seed_rows() if row["intent"] == "late_delivery")
    assert check.check(late) is None
    mislabelled = {**late, "intent": "delete_account"}
    reason = check.check(mislabelled)
    assert reason is not None and reason.startswith("intent: reads as 'late_delivery'")
    assert check.check({**late, "intent": "not_a_known_intent"}) is None  # unknown labels are not judged
    assert IntentCheck(classifier, IntentParams(min_probability=0.99)).check(late).startswith("intent:")
    batch = check.check_batch([late, mislabelled, late])
    assert batch[0] is None and batch[1] == reason and batch[2] is None


def test_intent_classifier_is_deterministic_and_keeps_real_variations() -> None:
    seeds = list(_fixture_seed_rows())
    classifier, again = IntentClassifier.train(seeds), IntentClassifier.train(seeds)
    texts = ["my order is late", "remove my profile please", "why a delivery fee"]
    assert (again.probabilities(texts) == classifier.probabilities(texts)).all()
    rows, _ = generate_builtin(seeds, GenerateParams(variations_per_seed=1))
    check = IntentCheck(classifier, IntentParams())
    assert sum(1 for reason in check.check_batch(rows) if reason) <= 0.1 * len(rows)
    rng = random.Random(1)
    intents = sorted({row["intent"] for row in rows})
    wrong = [{**row, "intent": rng.choice([i for i in intents if i != row["intent"]])} for row in rows]
    assert sum(1 for reason in check.check_batch(wrong) if reason) >= 0.9 * len(rows)
    assert IntentClassifier.train(seeds[:2]) is None  # too few rows per intent: no classifier


def test_every_check_is_registered_with_its_codes_and_params() -> None:
    classes = registered()
    assert list(classes) == FilterParams().checks  # default run order: cheap checks first
    assert sum(cls.runs_first for cls in classes.values()) == 1
    codes = [code for cls in classes.values() for code in cls.reason_codes()]
    assert len(codes) == len(set(codes))  # a reason code names one check
    for name, cls in classes.items():
        assert cls.__doc__ and cls.check.__doc__, name
        assert (FilterParams().block(name) is None) == (cls.Params is None), name


def test_the_intent_check_and_the_probe_fit_the_same_model() -> None:
    """stages/core/intent_model.py builds exactly the pipelines the two stages built before it existed."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    from stages.evaluate.params import ProbeParams
    from stages.evaluate.probe import train_probe

    rows = [row for row in _fixture_seed_rows() if row["intent"] in ("late_delivery", "refund_request")]
    texts, intents = [_user(row) for row in rows], [row["intent"] for row in rows]
    queries = ["where is my order", "I want my money back for this", "hello"]
    features = make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                          TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True))  # fmt: skip
    before = make_pipeline(features, LogisticRegression(C=10.0, max_iter=3000)).fit(texts, intents)
    classifier = IntentClassifier.train(rows, IntentParams(min_seed_rows=1))
    assert (classifier.probabilities(queries) == before.predict_proba(queries)).all()
    probe_before = make_pipeline(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=10.0, max_iter=2000, random_state=0),
    ).fit(texts, intents)
    probe = train_probe(texts, intents, ProbeParams())
    assert (probe.pipeline.predict_proba(queries) == probe_before.predict_proba(queries)).all()


def _user(row: dict) -> str:
    return "\n".join(m["content"] for m in row["messages"] if m["role"] == "user")
