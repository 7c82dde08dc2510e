"""Stage filter: each check rejects what it should, with a reason; nothing is lost."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from stages.core.errors import UserError
from stages.core.params import load_section
from stages.filter.checks import (
    BlocklistCheck,
    LanguageCheck,
    LengthCheck,
    PiiCheck,
    PolicyFactsCheck,
    RepetitionCheck,
    assemble_checks,
    build_checks,
    check_ai_boilerplate,
    check_refusal,
    compile_blocklist,
    run_checks,
)
from stages.filter.checks.intent import IntentCheck, IntentClassifier
from stages.filter.checks.pii import PiiFinder, iban_valid, luhn_valid
from stages.filter.checks.policy_facts import PolicyFacts, figures
from stages.filter.params import FilterParams
from stages.filter.stage import filter_metrics, filter_rows
from stages.generate.params import GenerateParams
from stages.generate.stage import generate_builtin
from tests.conftest import ROOT, env_with_venv, read_rows, run_stage

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


def _chat(user: str, assistant: str = "Open the app and go to Card > Card delivery.", **extra: object) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}], **extra}


def _synthetic(project: Path) -> list[dict]:
    run_stage("seed", project)
    rows, _ = generate_builtin(read_rows(project / "data/seed/seeds.jsonl"), GenerateParams(variations_per_seed=2))
    return rows


def _with_reply(row: dict, reply: str) -> dict:
    messages = [dict(m) for m in row["messages"]]
    messages[-1]["content"] = reply
    return {**row, "messages": messages}


def _expert_replies() -> list[tuple[str, str]]:
    """(customer text, reply) for every expert-written assistant turn of the seed files."""
    found = []
    for name in SEED_FILES:
        for row in read_rows(ROOT / "seeds" / name):
            customer = "\n".join(m["content"] for m in row["messages"] if m["role"] == "user")
            found += [(customer, m["content"]) for m in row["messages"] if m["role"] == "assistant"]
    return found


def test_length_check() -> None:
    check = LengthCheck(min_user=5, max_user=20, min_assistant=5, max_assistant=30)
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]}
    assert check(row) == "user_too_short: 2 < 5 chars"
    row["messages"][0]["content"] = "x" * 25
    assert check(row) == "user_too_long: 25 > 20 chars"
    row["messages"][0]["content"] = "fine question"
    row["messages"][1]["content"] = "y" * 31
    assert check(row) == "assistant_too_long: 31 > 30 chars"


def test_blocklist_matches_whole_phrases_only() -> None:
    check = BlocklistCheck(compile_blocklist(["as an ai", "idiot"]))
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "As an AI, I cannot."}]}
    assert check(row) == "blocklist: as an ai"
    row["messages"][1]["content"] = "Idiotic fees are not something we charge."
    assert check(row) is None


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
    check = PiiCheck(PiiFinder())
    found = {
        "my card is 4111 1111 1111 1111, can you check it": "card_number",
        "it's 4539-1488-0343-6467": "card_number",
        "send it to GB82 WEST 1234 5698 7654 32 please": "iban",
        "email me at jane.doe@example.co.uk": "email",
        "call me on 07700 900123": "phone",
        "my number is +44 20 7946 0018": "phone",
    }
    for text, kind in found.items():
        reason = check(_chat(text))
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
        assert check(_chat(text)) is None, text
    assert check(_chat("hi", "Your IBAN is DE89370400440532013000.")).startswith("pii: iban in assistant text")
    only_emails = PiiCheck(PiiFinder(("email",)))
    assert only_emails(_chat("call me on 07700 900123")) is None


def test_refusal_and_boilerplate_on_real_replies() -> None:
    failures = read_rows(ROOT / "seeds/failures.jsonl")
    refusals = [f["failed_reply"] for f in failures if f["failure_mode"] == "unhelpful_refusal"]
    assert all(check_refusal(_chat("help", reply)) for reply in refusals)
    for customer, reply in _expert_replies():  # expert replies that say what cannot be done are not refusals
        assert check_refusal(_chat(customer, reply)) is None, reply
        assert check_ai_boilerplate(_chat(customer, reply)) is None, reply
    for text in ["As an AI language model, I cannot access your account.", "I'm just an AI, sorry.",
                 "Sure! Here's a rewritten version of the message: my card is lost", "Regards, [Your Name]",
                 "This answer was written by ChatGPT."]:  # fmt: skip
        assert check_ai_boilerplate(_chat("q", text)), text
    assert check_ai_boilerplate(_chat("Here is a paraphrased version of the query: card lost")).endswith("user text")


def test_language_check() -> None:
    check = LanguageCheck(min_words=6, min_latin_share=0.9)
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
        reason = check(_chat(text))
        assert reason is not None and expected in reason, (text, reason)
    kept = ["card not arrived 2 weeks ago wat do pls help asap", "hey sub i cancelled months ago still charging",
            "Café in Paris charged me twice, can you help?", "paid £7 for express and it's been 4 days!!!"]  # fmt: skip
    assert all(check(_chat(text)) is None for text in kept)
    for customer, reply in _expert_replies():
        assert check(_chat(customer, reply)) is None


def test_repetition_check() -> None:
    check = RepetitionCheck(max_duplicate_share=0.5, cross_turn_words=5)
    pasted = {"messages": [
        {"role": "user", "content": "I'm travelling abroad at the moment and can my kid have an account?"},
        {"role": "assistant", "content": "How old is your child?"},
        {"role": "user", "content": "I'm travelling abroad at the moment and she's 18 in a couple of weeks"},
        {"role": "assistant", "content": "Customers must be 18 or over, so she can apply in a couple of weeks."},
    ]}  # fmt: skip
    assert check(pasted) == 'repetition: two user turns share "i\'m travelling abroad at the"'
    loop = "Please freeze your card now. " * 8
    assert "of word 3-grams repeat" in check(_chat("lost card", loop))
    assert "4 times running" in check(_chat("no no no no my card is gone"))
    assert check(_chat("lost my card yesterday on the bus", "Freeze it in Card > Freeze card.")) is None
    assert RepetitionCheck(0.5, 0)(pasted) is None  # cross-turn comparison can be switched off


def test_policy_figures_are_parsed_with_units() -> None:
    parsed = [
        figure for figure, _ in figures("£5,000 a day, 0.5% on weekdays, 3 to 5 working days, 4pm, 24/7, 3 tries")
    ]
    assert parsed == [("£", 5000.0), ("%", 0.5), ("working day", 3.0, 5.0), ("time", 960), ("24/7",), ("", 3.0)]
    assert figures("within 1-2 business days")[0][0] == ("working day", 1.0, 2.0)  # business = working day


def test_policy_facts_use_the_real_policy() -> None:
    check = PolicyFactsCheck(_policy(), context=True, action_claims=True)

    def reply(text: str, customer: str = "question") -> str | None:
        return check(_chat(customer, text))

    assert reply("Express delivery costs £7 and arrives within 2 working days.") is None
    assert reply("SEPA transfers cost £1 and SWIFT transfers £4.") is None
    assert "'£3' is not a figure the policy states" in reply("Cancelled transfers incur a £3 cancellation fee.")
    assert "'60 days'" in reply("Disputes must be raised within 60 days of the transaction.")
    assert "'2.75%'" in reply("We charge a foreign transaction fee of 2.75% on card payments.")
    assert "'1-2 business days'" in reply("Cards usually arrive within 1-2 business days.")
    # a figure the policy states for something else: the minimum top-up, not a closing fee
    closing = "Closing your account costs £10 and all your data is deleted."
    assert "'£10' is in the policy only for other topics" in reply(closing)
    assert PolicyFactsCheck(_policy(), context=False, action_claims=True)(_chat("q", closing)) is None
    assert "account action" in reply("No problem! I've refunded the fee, you'll see it tomorrow.")
    assert PolicyFactsCheck(_policy(), context=True, action_claims=False)(_chat("q", "I've refunded it.")) is None
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
    check = IntentCheck(_classifier(), margin=0.4, min_probability=0.0)
    arrival = {
        "intent": "card_arrival",
        **_chat("I ordered my new card ten days ago and it still hasn't come in the post"),
    }
    assert check(arrival) is None
    mislabelled = {**arrival, "intent": "top_up_limits"}
    reason = check(mislabelled)
    assert reason is not None and reason.startswith("intent: reads as 'card_arrival'")
    assert check({**arrival, "intent": "not_a_known_intent"}) is None  # unknown labels are not judged
    # the logged failure labelled wrong_intent keeps its (correct) label: its customer text is judged, not the reply
    batch = check.check_batch([arrival, mislabelled, arrival])
    assert batch[0] is None and batch[1] == reason and batch[2] is None


def test_intent_classifier_is_deterministic_and_keeps_real_variations(project: Path) -> None:
    again = IntentClassifier.train(_repo_seed_rows())
    texts = ["where is my card", "I was charged twice for one coffee", "how old must I be to open an account"]
    assert (again.probabilities(texts) == _classifier().probabilities(texts)).all()
    rows, _ = generate_builtin(_repo_seed_rows_with_ids(), GenerateParams(variations_per_seed=1))
    check = IntentCheck(_classifier(), margin=0.4, min_probability=0.0)
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


def test_filter_keeps_every_rejected_row_with_all_reasons(project: Path) -> None:
    rows = _synthetic(project)
    bad_schema = {**rows[0], "source": "alien"}
    blocked = _with_reply(rows[1], "As an AI language model I guarantee nothing. " * 2)
    too_long = _with_reply(rows[2], "word " * 400)
    checks = build_checks(FilterParams(), ROOT / "seeds/blocklist.txt")
    kept, rejected = filter_rows([bad_schema, blocked, too_long, *rows[3:]], checks)
    assert len(kept) + len(rejected) == len(rows)
    reasons = {row["id"]: row["reasons"] for row in rejected}
    assert reasons[bad_schema["id"]] == [reasons[bad_schema["id"]][0]] and reasons[bad_schema["id"]][0].startswith(
        "schema: source"
    )  # schema failures stop the other checks
    assert reasons[blocked["id"]][0] == "blocklist: as an ai"
    assert reasons[blocked["id"]][1].startswith("ai_boilerplate:")  # all reasons are kept
    assert reasons[too_long["id"]][0].startswith("assistant_too_long")
    assert any(r.startswith("repetition") for r in reasons[too_long["id"]])
    metrics = filter_metrics(kept, rejected)
    assert metrics["by_reason"] == {"ai_boilerplate": 1, "assistant_too_long": 1, "blocklist": 1, "repetition": 1,
                                    "schema": 1}  # fmt: skip
    assert metrics["checks"]["length"] == {"rejected": 1, "reject_rate": round(1 / len(rows), 4),
                                           "rejected_by_this_check_only": 0}  # fmt: skip
    assert sum(s["rejected"] for s in metrics["slices"].values()) == 3
    assert sum(t["rows"] for t in metrics["templates"].values()) == len(rows)
    assert all(rejected_row["messages"] for rejected_row in rejected)  # the full row is kept


def test_checks_can_be_switched_off(project: Path) -> None:
    rows = _synthetic(project)
    blocked = _with_reply(rows[0], "As an AI I cannot help you with this request today, sorry.")
    checks = build_checks(FilterParams(checks=["schema", "length"]), ROOT / "seeds/blocklist.txt")
    assert run_checks(blocked, checks) == []
    every = assemble_checks(FilterParams(), ROOT / "seeds/blocklist.txt")
    assert set(every.skipped) == {"policy_facts", "intent"}  # they need the policy and seed rows


def test_params_are_validated_with_the_key_named(tmp_path: Path) -> None:
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for change, message in [
        ({"checks": ["schema", "spellcheck"]}, "filter.checks.1: Input should be"),
        ({"checks": ["pii", "pii"]}, "filter: checks: a check is listed twice"),
        ({"intent_margin": 0}, "filter.intent_margin: Input should be greater than 0"),
        ({"min_user_chars": 900}, "min_user_chars (900) exceeds max_user_chars"),
        ({"pii_kinds": ["email", "passport"]}, "filter.pii_kinds.1"),
    ]:
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump({**params, "filter": {**params["filter"], **change}}))
        with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_section(path, "filter", FilterParams)


def test_filter_stage_outputs_and_metrics(project: Path) -> None:
    shutil.copy(ROOT / "seeds/policy.md", project / "seeds/policy.md")
    run_stage("seed", project)
    run_stage("generate", project)
    run_stage("filter", project)
    kept = read_rows(project / "data/filter/kept.jsonl")
    rejected = read_rows(project / "data/filter/rejected.jsonl")
    generated = read_rows(project / "data/generate/rows.jsonl")
    assert len(kept) + len(rejected) == len(generated)
    metrics = json.loads((project / "metrics/filter.json").read_text())
    assert metrics["kept"] == len(kept) and metrics["rows"] == len(generated)
    assert metrics["checks_skipped"] == {} and metrics["intent_classifier"]["intents"] == 6
    assert set(metrics["checks"]) == set(FilterParams().checks)
    assert all(row["reasons"] for row in rejected)


def test_filter_runs_standalone_and_says_what_it_skips(tmp_path: Path) -> None:
    def filter_cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "stages.filter", "--params", str(ROOT / "params.yaml"),
                   "--blocklist", str(ROOT / "seeds/blocklist.txt"), *args]  # fmt: skip
        return subprocess.run(command, cwd=tmp_path, env=env_with_venv(), capture_output=True, text=True)

    help_text = subprocess.run([sys.executable, "-m", "stages.filter", "--help"], cwd=tmp_path, env=env_with_venv(),
                               capture_output=True, text=True)  # fmt: skip
    assert help_text.returncode == 0 and "--policy" in help_text.stdout and "policy_facts" in help_text.stdout
    rows = [
        {
            "id": "x" * 20,
            "intent": "card_arrival",
            "slice": "cards",
            "source": "synthetic",
            "origin": "variation",
            "case_id": "c",
            "seed_id": "s" * 20,
            "meta": {},
            "provenance": {
                "generator": "g",
                "generator_version": "1",
                "model": "m",
                "template_id": "t",
                "template_hash": "h",
                "temperature": 0.5,
                "sampling_seed": 1,
                "seed_ids": ["s" * 20],
                "params_hash": "p",
            },
            **_chat("where is my card, I ordered it weeks ago", "A £3 fee applies to every cancellation of this kind."),
        }
    ]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = filter_cli("--rows", "rows.jsonl")
    assert result.returncode == 0, result.stderr
    assert "seeds/policy.md not found, so the policy_facts check is skipped" in result.stderr
    metrics = json.loads((tmp_path / "metrics/filter.json").read_text())
    assert metrics["checks_skipped"] == {"intent": 1, "policy_facts": 1}
    result = filter_cli("--rows", "rows.jsonl", "--policy", str(ROOT / "seeds/policy.md"))
    assert result.returncode == 0 and "kept 0 of 1" in result.stdout
    assert read_rows(tmp_path / "data/filter/rejected.jsonl")[0]["reasons"] == [
        "policy_facts: '£3' is not a figure the policy states"
    ]
    result = filter_cli("--rows", "rows.jsonl", "--policy", "missing.md")
    assert result.returncode == 2 and "missing.md: policy file not found" in result.stderr


def test_missing_blocklist_is_a_clear_error(project: Path) -> None:
    run_stage("seed", project)
    run_stage("generate", project)
    result = run_stage("filter", project, "--blocklist", "seeds/nope.txt", check=False)
    assert result.returncode == 2 and "seeds/nope.txt: blocklist file not found" in result.stderr
