"""The policy_facts check on its own fixture policies: figures read generically, tied to the policy
section the reply is about, action-claim verbs from the domain file."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from stages.core.domain import NEUTRAL_ACTION_CLAIMS, Domain
from stages.core.errors import UserError
from stages.filter.checks.base import CheckInputs
from stages.filter.checks.policy_facts import PolicyChecker, PolicyFactsCheck, PolicyFactsParams, action_claim_pattern
from stages.filter.figures import figures
from stages.filter.policy import PolicyFacts, policy_units, stem
from tests.conftest import ROOT
from tests.test_filter_checks import chat

POLICY = """# Support policy (fixture)

## 1. Orders

1.1 **Refunds.** Refunds for cancelled orders are sent within 21 days, to the card used.

1.2 **Vouchers.** A voucher for a late order is valid for 7 days.

1.3 **Returns.** Returns are free within 30 days; a collection costs €4.

## 2. Account

2.1 **Locking.** After 5 wrong passwords the account is locked for 15 minutes.

## Facts

- refund: within 21 days
- collection fee: €4
"""


def _checker(verbs: tuple[str, ...] = NEUTRAL_ACTION_CLAIMS) -> PolicyChecker:
    return PolicyChecker(PolicyFacts.from_text(POLICY), action_claim_pattern(verbs))


def _problem(reply: str, customer: str = "question", refs: frozenset[str] = frozenset()) -> str | None:
    return _checker().problem(reply, customer, context=True, action_claims=True, refs=refs)


def test_figures_are_read_generically() -> None:
    parsed = [
        figure for figure, _ in figures("€5,000 a day, 0.5% on weekdays, 3 to 5 working days, 4pm, 24/7, 3 tries")
    ]
    assert parsed == [("EUR", 5000.0), ("%", 0.5), ("working day", 3.0, 5.0), ("time", 960), ("24/7",), ("", 3.0)]
    assert figures("within 1-2 business days")[0][0] == ("working day", 1.0, 2.0)  # business = working day
    money = [figure for figure, _ in figures("EUR 20, 20 euros, 20 €, £10k, ₹250, ¥3000, US$15, 15 USD")]
    assert money == [("EUR", 20.0)] * 3 + [("GBP", 10000.0), ("INR", 250.0), ("¥", 3000.0), ("$", 15.0), ("USD", 15.0)]
    measures = [figure for figure, _ in figures("a bag of 23 kg, or 23kg, check-in at 16:30 for 2 nights")]
    assert measures == [("kg", 23.0), ("kg", 23.0), ("time", 990), ("night", 2.0)]
    assert figures("no numbers here") == ()
    # Data sizes, rates and seconds, glued or spaced; a technology name such as "5G" is no figure.
    data = [figure for figure, _ in figures("55GB a month, 20 MB, 2 gigabytes, 100 Mbps, 1 Gbps, 45 seconds, 5G")]
    assert data == [("GB", 55.0), ("MB", 20.0), ("GB", 2.0), ("Mbit/s", 100.0), ("Gbit/s", 1.0), ("second", 45.0)]


def test_a_figure_in_the_wrong_unit_or_invented_is_caught() -> None:
    policy = (
        POLICY
        + "\n## 3. Data\n\n3.1 **Allowance.** The monthly data allowance is 20 GB; calls connect in 30 seconds.\n"
    )
    checker = PolicyChecker(PolicyFacts.from_text(policy), action_claim_pattern(NEUTRAL_ACTION_CLAIMS))

    def problem(reply: str) -> str | None:
        return checker.problem(reply, "how much data do I get", context=True, action_claims=True, refs=frozenset())

    assert problem("Your monthly data allowance is 20 GB.") is None
    assert problem("Your monthly data allowance is 20GB.") is None
    for wrong in ["20 MB", "55GB", "20 TB", "25 GB"]:
        assert problem(f"Your monthly data allowance is {wrong}.") is not None, wrong
    assert problem("Calls connect in 30 seconds.") is None
    assert problem("Calls connect in 45 seconds.") is not None


def test_policy_units_have_rule_numbers_topics_and_figures() -> None:
    units = policy_units(POLICY)
    refunds = next(unit for unit in units if unit.ref == "1.1")
    assert ("day", 21.0) in refunds.figures and ("", 1.1) not in refunds.figures  # the rule number is no figure
    assert {stem("refunds"), stem("orders")} <= refunds.topics  # heading words count too
    assert [unit.ref for unit in units if unit.ref] == ["1.1", "1.2", "1.3", "2.1"]
    assert PolicyFacts.from_text(POLICY).refs() == {"1.1", "1.2", "1.3", "2.1"}
    assert stem("expires") == stem("expiry") and stem("refunded") == stem("refunds")


def test_a_figure_must_be_stated_for_the_matter_the_reply_is_about() -> None:
    assert _problem("Your refund for the cancelled order is sent within 21 days.") is None
    assert _problem("Returns are free within 30 days.") is None
    # 7 days is the policy's figure for vouchers, which share only the word "order" with this reply
    wrong_window = _problem("Your refund for the cancelled order is sent within 7 days.")
    assert wrong_window == "'7 days' is in the policy only for other topics (the reply is about 1.1)"
    assert "'€9' is not a figure the policy states" in _problem("A collection costs €9.")
    assert "'EUR 4'" not in (_problem("A collection costs EUR 4.") or "")  # the same figure, written another way
    # the rules the row's seed applies (policy_refs) make their figures on topic
    assert _problem("Your refund for the cancelled order is sent within 7 days.", refs=frozenset({"1.2"})) is None
    checker = _checker()
    assert checker.problem("Your refund is sent within 7 days.", "q", context=False, action_claims=True) is None


def test_customer_figures_may_be_repeated() -> None:
    echo = "As 3 weeks have passed, please ask for your refund again."
    assert _problem(echo, "They refunded me 3 weeks ago") is None and "'3 weeks'" in _problem(echo)
    assert _problem(echo, "they refundd me 3 weesk ago") is None  # typos in the customer's text
    assert _problem("You have 1 more try.") is None  # a bare 1 is how people talk, not a policy fact


def test_action_claim_verbs_come_from_the_domain() -> None:
    booked = "Good news: I've rebooked you on the morning flight."
    assert _checker().problem(booked, "q", context=True, action_claims=True) is None  # neutral verbs: not a claim
    travel = _checker(("booked", "rebooked", "reserved"))
    assert "account action" in travel.problem(booked, "q", context=True, action_claims=True)
    assert "account action" in travel.problem("We have just reserved a room for you.", "q", True, True)
    assert travel.problem(booked, "q", context=True, action_claims=False) is None
    assert "account action" in _problem("No problem! I've refunded the collection fee.")
    domain = Domain(product="P", system_prompt="s", action_claims=["rebooked"])
    check = PolicyFactsCheck.build(PolicyFactsParams(), CheckInputs(policy=_write(POLICY), domain=domain))
    assert check.check(chat("q", booked)).startswith("policy_facts: claims an account action")
    assert check.check(chat("q", "I've refunded it.")) is None  # only the domain's verbs


def _write(text: str) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="policy-")) / "policy.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_policy_row_refs_reach_the_check() -> None:
    check = PolicyFactsCheck.build(PolicyFactsParams(), CheckInputs(policy=_write(POLICY)))
    row = chat("q", "Your refund for the cancelled order is sent within 7 days.")
    assert check.check(row).startswith("policy_facts: '7 days' is in the policy only for other topics")
    assert check.check({**row, "meta": {"policy_refs": ["1.2"]}}) is None


def test_missing_or_empty_policy_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="policy file not found"):
        PolicyFacts.from_file(tmp_path / "nope.md")
    (tmp_path / "empty.md").write_text("# Policy\nBe nice.\n")
    with pytest.raises(UserError, match="no figures found"):
        PolicyFacts.from_file(tmp_path / "empty.md")


def _off_topic_scoring_every_unit(facts: PolicyFacts, figure, sentence, reply, refs=frozenset()) -> str | None:
    """The documented rule written plainly: every unit scored, the first best unit named."""
    if refs and any(facts.units[index].ref in refs for index in facts.stating[figure]):
        return None
    scores = [facts.score(unit, sentence, reply) for unit in facts.units]
    best = max(range(len(scores)), key=scores.__getitem__)
    top = max(scores[index] for index in facts.stating[figure])
    if top > 0 and top >= 0.5 * scores[best]:
        return None
    return facts.units[best].ref or ", ".join(sorted(facts.units[best].topics)[:4])


@pytest.mark.parametrize(
    "policy_file",
    [None, Path("seeds/policy.md"), *sorted(p.relative_to(ROOT) for p in (ROOT / "examples").glob("*/policy.md"))],
    ids=str,
)
def test_off_topic_scores_only_the_units_sharing_a_word_and_decides_as_scoring_all(policy_file: Path | None) -> None:
    """off_topic scores only the units the inverted index names: on random sentences and replies (topic
    words of the policy, words of no unit, none at all) its verdict is the rule's, scoring every unit."""
    text = POLICY if policy_file is None else (ROOT / policy_file).read_text(encoding="utf-8")
    facts = PolicyFacts.from_text(text)
    words = [*sorted({word for unit in facts.units for word in unit.topics}), "zzunknown", "qqother"]
    rng = random.Random(7)
    stated = sorted(facts.stating, key=repr)
    decided = Counter()
    for _ in range(3000):
        sentence = frozenset(rng.sample(words, rng.randint(0, 4)))
        reply = sentence | frozenset(rng.sample(words, rng.randint(0, 6)))
        figure = rng.choice(stated)
        refs = frozenset(rng.sample(sorted(facts.refs()), 1)) if facts.refs() and rng.random() < 0.1 else frozenset()
        expected = _off_topic_scoring_every_unit(facts, figure, sentence, reply, refs)
        assert facts.off_topic(figure, sentence, reply, refs) == expected, (figure, sentence, reply)
        assert facts.off_topic(figure, frozenset(sentence), frozenset(reply), refs) == expected  # not the cached pair
        decided[expected is None] += 1
    assert decided[True] > 100 and decided[False] > 100, decided
