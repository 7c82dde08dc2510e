"""Filter checks one by one: each rejects what it should, with a reason, and keeps what it should."""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

import pytest

from stages.core.errors import UserError
from stages.filter.checks.base import CheckInputs, registered
from stages.filter.checks.blocklist import BlocklistCheck, compile_blocklist
from stages.filter.checks.boilerplate import AiBoilerplateCheck, RefusalCheck
from stages.filter.checks.intent import IntentCheck, IntentClassifier, IntentParams
from stages.filter.checks.language import LanguageCheck, LanguageParams
from stages.filter.checks.length import LengthCheck, LengthParams
from stages.filter.checks.pii import PiiCheck, PiiFinder, iban_valid, luhn_valid
from stages.filter.checks.policy_facts import PolicyFacts, PolicyFactsCheck, PolicyFactsParams, figures
from stages.filter.checks.repetition import RepetitionCheck, RepetitionParams
from stages.filter.params import FilterParams
from stages.generate.params import GenerateParams
from stages.generate.stage import generate_builtin
from tests.conftest import ROOT, read_rows

SEED_FILES = ("cases.jsonl", "failures.jsonl", "eval_traffic.jsonl")


@cache
def _policy() -> PolicyFacts:
    return PolicyFacts.from_file(ROOT / "seeds/policy.md")


@cache
def _repo_seed_rows() -> list[dict]:
    """The repository's human seed rows in the seed stage's schema (intent, slice, messages, source)."""
    rows = []
    for line in (ROOT / "seeds/cases.jsonl").read_text().splitlines() + (ROOT / "seeds/failures.jsonl").read_text(
    ).splitlines():  # fmt: skip
        raw = json.loads(line)
        rows.append({"intent": raw["intent"], "slice": raw["slice"], "messages": raw["messages"],
                     "source": "human", "origin": "case"})  # fmt: skip
    return rows


@cache
def _classifier() -> IntentClassifier:
    classifier = IntentClassifier.train(_repo_seed_rows())
    assert classifier is not None
    return classifier


def chat(user: str, assistant: str = "Open the app and go to Card > Card delivery.", **extra: object) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}], **extra}


def _expert_replies() -> list[tuple[str, str]]:
    """(customer text, reply) for every expert-written assistant turn of the seed files."""
    found = []
    for name in SEED_FILES:
        for row in read_rows(ROOT / "seeds" / name):
            customer = "\n".join(m["content"] for m in row["messages"] if m["role"] == "user")
            found += [(customer, m["content"]) for m in row["messages"] if m["role"] == "assistant"]
    return found


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
    [("4111111111111111", True), ("4539148803436467", True), ("378282246310005", True),
     ("4111111111111112", False), ("4539148803436468", False), ("1234567812345678", False)],
)  # fmt: skip
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("iban", "valid"),
    [("GB82WEST12345698765432", True), ("DE89370400440532013000", True), ("FR1420041010050500013M02606", True),
     ("GB82WEST12345698765433", False), ("DE89370400440532013001", False), ("GB82WEST1234569876543", False)],
)  # fmt: skip
def test_iban_checksum(iban: str, valid: bool) -> None:
    assert iban_valid(iban) is valid


def test_pii_check_finds_personal_data_and_masks_it() -> None:
    check = PiiCheck(PiiFinder()).check
    found = {
        "my card is 4111 1111 1111 1111, can you check it": "card_number",
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
        "my card 4111 1111 1111 1112 was declined",  # fails Luhn: not a card number
        "the limit is £25,000 per day and £10,000 per transfer",
        "I paid on 2026-01-08 at 4pm and it said 3 to 5 working days",
        "sort code 12-34-56, reference 12345678, 0.5% fee",
        "IBAN GB82 WEST 1234 5698 7654 33",  # wrong check digits
    ]
    for text in clean:
        assert check(chat(text)) is None, text
    assert check(chat("hi", "Your IBAN is DE89370400440532013000.")).startswith("pii: iban in assistant text")
    only_emails = PiiCheck.build(FilterParams(pii={"kinds": ["email"]}).pii, CheckInputs())
    assert only_emails.check(chat("call me on 07700 900123")) is None


def test_refusal_and_boilerplate_on_real_replies() -> None:
    check_refusal, check_ai_boilerplate = RefusalCheck().check, AiBoilerplateCheck().check
    failures = read_rows(ROOT / "seeds/failures.jsonl")
    refusals = [f["failed_reply"] for f in failures if f["failure_mode"] == "unhelpful_refusal"]
    assert all(check_refusal(chat("help", reply)) for reply in refusals)
    for customer, reply in _expert_replies():  # expert replies that say what cannot be done are not refusals
        assert check_refusal(chat(customer, reply)) is None, reply
        assert check_ai_boilerplate(chat(customer, reply)) is None, reply
    for text in ["As an AI language model, I cannot access your account.", "I'm just an AI, sorry.",
                 "Sure! Here's a rewritten version of the message: my card is lost", "Regards, [Your Name]",
                 "This answer was written by ChatGPT."]:  # fmt: skip
        assert check_ai_boilerplate(chat("q", text)), text
    assert check_ai_boilerplate(chat("Here is a paraphrased version of the query: card lost")).endswith("user text")


def test_language_check() -> None:
    check = LanguageCheck(LanguageParams(min_words=6, min_latin_share=0.9)).check
    rejected = {
        "Hola, mi tarjeta no ha llegado todavía y la pedí hace dos semanas, qué hago": "Spanish",
        "Hallo, meine Karte ist noch nicht angekommen, obwohl ich sie bestellt habe": "German",
        "Bonjour, ma carte n'est toujours pas arrivée et je l'ai commandée il y a deux semaines": "French",
        "Моя карта не пришла, что делать?": "not Latin",
        "I was charged Â£5 for the cardâ€™s replacement": "mojibake",
        "my card \ufffd is lost": "U+FFFD",
        "my card\u200b is lost": "U+200B",
    }
    for text, expected in rejected.items():
        reason = check(chat(text))
        assert reason is not None and expected in reason, (text, reason)
    kept = ["card not arrived 2 weeks ago wat do pls help asap", "hey sub i cancelled months ago still charging",
            "Café in Paris charged me twice, can you help?", "paid £7 for express and it's been 4 days!!!"]  # fmt: skip
    assert all(check(chat(text)) is None for text in kept)
    for customer, reply in _expert_replies():
        assert check(chat(customer, reply)) is None


def test_repetition_check() -> None:
    check = RepetitionCheck(RepetitionParams(max_duplicate_share=0.5, cross_turn_words=5)).check
    pasted = {"messages": [
        {"role": "user", "content": "I'm travelling abroad at the moment and can my kid have an account?"},
        {"role": "assistant", "content": "How old is your child?"},
        {"role": "user", "content": "I'm travelling abroad at the moment and she's 18 in a couple of weeks"},
        {"role": "assistant", "content": "Customers must be 18 or over, so she can apply in a couple of weeks."},
    ]}  # fmt: skip
    assert check(pasted) == 'repetition: two user turns share "i\'m travelling abroad at the"'
    loop = "Please freeze your card now. " * 8
    assert "of word 3-grams repeat" in check(chat("lost card", loop))
    assert "4 times running" in check(chat("no no no no my card is gone"))
    assert check(chat("lost my card yesterday on the bus", "Freeze it in Card > Freeze card.")) is None
    assert RepetitionCheck(RepetitionParams(cross_turn_words=0)).check(pasted) is None  # can be switched off


def test_policy_figures_are_parsed_with_units() -> None:
    parsed = [
        figure for figure, _ in figures("£5,000 a day, 0.5% on weekdays, 3 to 5 working days, 4pm, 24/7, 3 tries")
    ]
    assert parsed == [("£", 5000.0), ("%", 0.5), ("working day", 3.0, 5.0), ("time", 960), ("24/7",), ("", 3.0)]
    assert figures("within 1-2 business days")[0][0] == ("working day", 1.0, 2.0)  # business = working day


def test_policy_facts_use_the_real_policy() -> None:
    check = PolicyFactsCheck(_policy(), PolicyFactsParams(context=True, action_claims=True))

    def reply(text: str, customer: str = "question") -> str | None:
        return check.check(chat(customer, text))

    assert reply("Express delivery costs £7 and arrives within 2 working days.") is None
    assert reply("SEPA transfers cost £1 and SWIFT transfers £4.") is None
    assert "'£3' is not a figure the policy states" in reply("Cancelled transfers incur a £3 cancellation fee.")
    assert "'60 days'" in reply("Disputes must be raised within 60 days of the transaction.")
    assert "'2.75%'" in reply("We charge a foreign transaction fee of 2.75% on card payments.")
    assert "'1-2 business days'" in reply("Cards usually arrive within 1-2 business days.")
    # a figure the policy states for something else: the minimum top-up, not a closing fee
    closing = "Closing your account costs £10 and all your data is deleted."
    assert "'£10' is in the policy only for other topics" in reply(closing)
    assert PolicyFactsCheck(_policy(), PolicyFactsParams(context=False)).check(chat("q", closing)) is None
    assert "account action" in reply("No problem! I've refunded the fee, you'll see it tomorrow.")
    assert (
        PolicyFactsCheck(_policy(), PolicyFactsParams(action_claims=False)).check(chat("q", "I've refunded it."))
        is None
    )
    # the customer's own figure may be repeated
    echo = "As 3 weeks have passed, you can raise a dispute from the payment."
    assert reply(echo, "They refunded me 3 weeks ago") is None and "'3 weeks'" in reply(echo)
    assert reply(echo, "they refundd me 3 weesk ago") is None  # typos in the customer's text


def test_policy_facts_keep_every_expert_reply_and_catch_logged_bad_ones() -> None:
    facts = _policy()
    for customer, reply in _expert_replies():
        assert facts.problem(reply, customer, context=True, action_claims=True) is None, reply
    failures = read_rows(ROOT / "seeds/failures.jsonl")
    caught = [f for f in failures if facts.problem(f["failed_reply"], "", context=True, action_claims=True)]
    assert len(caught) >= 19  # of 45: invented figures, wrong limits, "I've refunded ..."
    assert {f["failure_mode"] for f in caught} >= {"invented_fact", "wrong_policy", "asked_for_secret"}


def test_missing_or_empty_policy_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="policy file not found"):
        PolicyFacts.from_file(tmp_path / "nope.md")
    (tmp_path / "empty.md").write_text("# Policy\nBe nice.\n")
    with pytest.raises(UserError, match="no figures found"):
        PolicyFacts.from_file(tmp_path / "empty.md")


def test_intent_classifier_catches_a_mislabelled_row() -> None:
    check = IntentCheck(_classifier(), IntentParams(margin=0.4, min_probability=0.0))
    arrival = {
        "intent": "card_arrival",
        **chat("I ordered my new card ten days ago and it still hasn't come in the post"),
    }
    assert check.check(arrival) is None
    mislabelled = {**arrival, "intent": "top_up_limits"}
    reason = check.check(mislabelled)
    assert reason is not None and reason.startswith("intent: reads as 'card_arrival'")
    assert check.check({**arrival, "intent": "not_a_known_intent"}) is None  # unknown labels are not judged
    assert IntentCheck(_classifier(), IntentParams(min_probability=0.99)).check(arrival).startswith("intent:")
    # the logged failure labelled wrong_intent keeps its (correct) label: its customer text is judged, not the reply
    batch = check.check_batch([arrival, mislabelled, arrival])
    assert batch[0] is None and batch[1] == reason and batch[2] is None


def test_intent_classifier_is_deterministic_and_keeps_real_variations(project: Path) -> None:
    again = IntentClassifier.train(_repo_seed_rows())
    texts = ["where is my card", "I was charged twice for one coffee", "how old must I be to open an account"]
    assert (again.probabilities(texts) == _classifier().probabilities(texts)).all()
    rows, _ = generate_builtin(_repo_seed_rows_with_ids(), GenerateParams(variations_per_seed=1))
    check = IntentCheck(_classifier(), IntentParams())
    rejected = [reason for reason in check.check_batch(rows) if reason]
    assert len(rejected) <= 0.02 * len(rows)
    rng = random.Random(1)
    intents = sorted({row["intent"] for row in rows})
    wrong = [{**row, "intent": rng.choice([i for i in intents if i != row["intent"]])} for row in rows]
    assert sum(1 for reason in check.check_batch(wrong) if reason) >= 0.9 * len(rows)
    assert IntentClassifier.train(_repo_seed_rows()[:2]) is None  # too few rows per intent: no classifier


def _repo_seed_rows_with_ids() -> list[dict]:
    return [{**row, "id": f"seed{index:016d}", "case_id": f"c{index}", "meta": {}} for index, row in
            enumerate(_repo_seed_rows())]  # fmt: skip


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

    rows = [row for row in _repo_seed_rows() if row["intent"] in ("card_arrival", "request_refund", "age_limit")]
    texts, intents = [_user(row) for row in rows], [row["intent"] for row in rows]
    queries = ["where is my card", "I want my money back for this", "how old do I need to be", "hello"]
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
