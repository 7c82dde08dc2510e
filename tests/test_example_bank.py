"""The bank example's own figures (seeds/ as shipped: Northwind Bank). Skipped, with the reason, when
seeds/ holds another domain: the engine's tests never depend on which domain that is."""

from __future__ import annotations

from functools import cache

import pytest

from stages.core.domain import load_domain
from stages.filter.checks.base import CheckInputs
from stages.filter.checks.intent import IntentCheck, IntentClassifier, IntentParams
from stages.filter.checks.policy_facts import PolicyFactsCheck, PolicyFactsParams
from stages.filter.figures import figures
from tests.conftest import ROOT, read_rows, seeds_training_rows
from tests.test_filter_checks import chat
from tests.test_seeds_domain import intent_check_counts


def _is_bank() -> bool:
    path = ROOT / "seeds/domain.yaml"
    return path.exists() and load_domain(path).product == "Northwind Bank"


pytestmark = pytest.mark.skipif(not _is_bank(), reason="seeds/ holds another domain than the bank example")


@cache
def _check() -> PolicyFactsCheck:
    inputs = CheckInputs(policy=ROOT / "seeds/policy.md", domain=load_domain(ROOT / "seeds/domain.yaml"))
    return PolicyFactsCheck.build(PolicyFactsParams(), inputs)


def test_pound_figures_of_the_bank_policy() -> None:
    parsed = [figure for figure, _ in figures("£5,000 a day, 0.5% on weekdays, 3 to 5 working days, 4pm, 24/7")]
    assert parsed == [("GBP", 5000.0), ("%", 0.5), ("working day", 3.0, 5.0), ("time", 960), ("24/7",)]


def test_policy_facts_on_the_bank_policy() -> None:
    def reply(text: str, customer: str = "question") -> str | None:
        return _check().check(chat(customer, text))

    assert reply("Express delivery costs £7 and arrives within 2 working days.") is None
    assert reply("SEPA transfers cost £1 and SWIFT transfers £4.") is None
    assert "'£3' is not a figure the policy states" in reply("Cancelled transfers incur a £3 cancellation fee.")
    assert "'60 days'" in reply("Disputes must be raised within 60 days of the transaction.")
    assert "'2.75%'" in reply("We charge a foreign transaction fee of 2.75% on card payments.")
    assert "'1-2 business days'" in reply("Cards usually arrive within 1-2 business days.")
    # a figure the policy states for something else: the minimum top-up, not a closing fee
    assert "'£10' is in the policy only for other topics" in reply("Closing your account costs £10.")
    # a window from another section: unclaimed pending amounts are released within 7 days; a dispute
    # review takes up to 45 days (the rule before issue 11 let this pass: "dispute" is in both paragraphs)
    assert "'7 days' is in the policy only for other topics" in reply("A dispute review takes up to 7 days.")
    assert "account action" in reply("No problem! I've refunded the fee, you'll see it tomorrow.")


def test_logged_bad_replies_are_caught() -> None:
    check = _check()
    failures = read_rows(ROOT / "seeds/failures.jsonl")
    caught = [f for f in failures if check.check({**chat("", f["failed_reply"]), "meta": {}})]
    assert len(caught) >= 22  # of 45: invented figures, wrong limits, "I've refunded ..." (19 before issue 11)
    assert {f["failure_mode"] for f in caught} >= {"invented_fact", "wrong_policy", "asked_for_secret"}


def test_intent_classifier_on_the_bank_seeds() -> None:
    classifier = IntentClassifier.train(seeds_training_rows())
    check = IntentCheck(classifier, IntentParams(margin=0.4, min_probability=0.0))
    arrival = {
        "intent": "card_arrival",
        **chat("I ordered my new card ten days ago and it still hasn't come in the post"),
    }
    assert check.check(arrival) is None
    assert check.check({**arrival, "intent": "top_up_limits"}).startswith("intent: reads as 'card_arrival'")
    rows, flagged, flagged_wrong = intent_check_counts(check)
    assert flagged <= 0.02 * rows
    assert flagged_wrong >= 0.9 * rows
