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


# A second fixture: a software service's limits, prices, releases and dates (no example domain's words).
SERVICE_POLICY = """# Service policy (fixture)

## 1. Limits

1.1 **Rate limits.** On Team the API allows 1,000 requests per minute per workspace; on Starter 100 req/s.

1.2 **Exports.** A workspace can run up to 5 exports; uploads are capped at 12,500.50 units.

1.3 **Seats.** Enterprise includes 2 500 seats.

## 2. Releases

2.1 **Versions.** The current release is v2.3.1; version 1.8 is supported until 6 December 2026.

2.2 **Renewals.** Plans renew on 2026-03-01; invoices dated 05/04/2026 are final.
"""


def _service(reply: str, customer: str = "question") -> str | None:
    checker = PolicyChecker(PolicyFacts.from_text(SERVICE_POLICY), action_claim_pattern(NEUTRAL_ACTION_CLAIMS))
    return checker.problem(reply, customer, context=True, action_claims=True, refs=frozenset())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5,000 seats", 5000.0),
        ("grow to 12,500.50 units", 12500.5),
        ("1,000,000 rows", 1_000_000.0),
        ("about 1 000 rows", 1000.0),  # grouped by a space: every group after the first has 3 digits
        ("about 2 500 000 rows", 2_500_000.0),
        ("about 1\u00a0000 rows", 1000.0),  # no-break space
        ("about 10\u202f000 rows", 10_000.0),  # narrow no-break space (SI style)
        ("about 3\u2009000 rows", 3000.0),  # thin space
        ("(5,000)", 5000.0),
        ("limit: 999,999.", 999_999.0),
        ("scores 3 100 and up", 3100.0),  # could be two numbers: read as thousands (figures.py docstring)
    ],
)
def test_a_number_with_thousands_separators_is_one_figure(text: str, expected: float) -> None:
    assert [figure for figure, _ in figures(text)] == [("", expected)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,2,3", []),  # not thousands groups: no figure, as before
        ("+41 44 668 18 00", [41.0, 44.0, 668.0, 18.0, 0.0]),  # groups of 2 after one of 3: separate numbers, as before
        ("call 0800 123 456", [800.0, 123.0, 456.0]),  # a group after a 4-digit run is no thousands group
        ("1,0000 items", []),
    ],
)
def test_what_is_not_a_thousands_group_reads_as_before(text: str, expected: list[float]) -> None:
    assert [figure[1] for figure, _ in figures(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("On Team the API allows 5,000 requests/minute per workspace", ("per minute", 5000.0)),
        ("2,000 requests per minute", ("per minute", 2000.0)),
        ("1,500 requests a minute", ("per minute", 1500.0)),
        ("100 req/s", ("per second", 100.0)),
        ("up to 60 calls an hour", ("per hour", 60.0)),
        ("10 API calls per second", ("per second", 10.0)),
        ("5000/min", ("per minute", 5000.0)),
        ("3 sign-ins each day", ("per day", 3.0)),
        ("1 000 webhooks every month", ("per month", 1000.0)),
        ("4 reports per working day", ("per working day", 4.0)),
        ("2.5 jobs/h", ("per hour", 2.5)),
    ],
)
def test_a_count_of_anything_per_time_unit_is_a_rate(text: str, expected: tuple) -> None:
    assert [figure for figure, _ in figures(text)] == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I sent 3 of them an hour ago", ("", 3.0)),  # when, not how often
        ("2 uploads a day later", ("", 2.0)),
        ("5 invites a week before", ("", 5.0)),
        ("up to 3 per month", ("per month", 3.0)),
    ],
)
def test_a_time_word_after_a_count_is_a_rate_only_when_it_says_how_often(text: str, expected: tuple) -> None:
    assert [figure for figure, _ in figures(text)] == [expected]


@pytest.mark.parametrize("written", ["5,000", "1 000", "12,500.50", "1\u202f000", "2,500,000"])
@pytest.mark.parametrize(
    ("template", "unit"),
    [
        ("{} tries", ""),
        ("{}%", "%"),
        ("{} km", "km"),
        ("a {}-day window", "day"),
        ("€{}", "EUR"),
        ("USD {}", "USD"),
        ("{} EUR", "EUR"),
        ("{} euros", "EUR"),
        ("{} requests per minute", "per minute"),
        ("{} seats/month", "per month"),
    ],
)
def test_a_grouped_number_is_read_wherever_a_plain_one_is(written: str, template: str, unit: str) -> None:
    value = float(written.replace(",", "").replace(" ", "").replace("\u202f", ""))
    assert [figure for figure, _ in figures(template.format(written))] == [(unit, value)]
    assert [figure for figure, _ in figures(template.format("3"))] == [(unit, 3.0)]  # as a plain number is
    assert [figure for figure, _ in figures(f"1 to {written} days")] == [("day", 1.0, value)]


def test_known_units_and_money_keep_their_figure_before_a_rate() -> None:
    parsed = [figure for figure, _ in figures("20 GB a month, €5 a day, 3 days a week, 8pm every day")]
    assert parsed == [("GB", 20.0), ("EUR", 5.0), ("day", 3.0), ("time", 1200)]


def test_an_invented_count_or_rate_is_caught() -> None:
    assert _service("On Team the API allows 1,000 requests per minute per workspace.") is None
    assert _service("Team workspaces get 1,000 requests/minute on the API.") is None
    assert _service("Team workspaces get 1,000 requests a minute on the API.") is None
    assert _service("On Starter the API takes 100 requests per second.") is None
    assert _service("The API allows 1,000 requests on Team.") is None  # the count alone, as the rate states it
    for invented in ["5,000 requests/minute", "2,000 requests per minute", "1,500 requests a minute", "1 500 req/min"]:
        problem = _service(f"On Team the API allows {invented} per workspace.")
        assert problem == f"{invented!r} is not a figure the policy states", invented
    # the policy's number in another time unit is another figure
    assert "'1,000 requests per hour'" in _service("On Team the API allows 1,000 requests per hour.")
    # a count the policy states bare ("up to 5 exports") may be said per time unit
    assert _service("A workspace can run 5 exports a day.") is None
    assert "'7 exports a day'" in _service("A workspace can run 7 exports a day.")
    assert _service("Uploads are capped at 12,500.50 units.") is None
    assert "'12,600.50'" in _service("Uploads are capped at 12,600.50 units.")
    assert _service("Enterprise includes 2,500 seats.") is None  # "2 500" in the policy: one figure
    assert "'3,500'" in _service("Enterprise includes 3,500 seats.")
    assert _service("As you said, 4,000 requests per minute is above the limit.", "we send 4,000 requests/min") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v2.4.0", "2.4"),
        ("V2.4.1", "2.4.1"),
        ("version 2.4", "2.4"),
        ("Version 3", "3"),
        ("on v2", "2"),
        ("upgrade to 2.4.0.", "2.4"),  # three dotted numbers are a version
        ("v2.4.0-beta.1", "2.4-beta.1"),
        ("v10.02.3", "10.2.3"),
        ("API v1 and v1.0.0", "1"),
    ],
)
def test_a_version_is_a_figure_of_its_own_kind(text: str, expected: str) -> None:
    assert {figure for figure, _ in figures(text)} == {("version", expected)}


def test_an_invented_version_is_caught() -> None:
    assert _service("The current release is v2.3.1.") is None
    assert _service("The current release is version 2.3.1, so please upgrade.") is None
    assert _service("The current release is 2.3.1.") is None
    for invented in ["v2.4.0", "version 2.4", "2.3.2", "v3"]:
        assert _service(f"The current release is {invented}.") == f"{invented!r} is not a figure the policy states"
    assert _service("Version 1.8 is supported until 6 December 2026.") is None
    assert "'Version v1.7' is not" in _service("Version v1.7 is supported until 6 December 2026.")
    assert _service("You're on v2.2; the current release is v2.3.1.", "I'm running v2.2.0") is None  # echoed


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-06",
        "2026/12/06",
        "6 December 2026",
        "6th December 2026",
        "6 Dec 2026",
        "6 of December, 2026",
        "December 6, 2026",
        "Dec. 6th, 2026",
        "December 6 2026",
        "06.12.2026",  # dotted: day first
        "6.12.2026",
    ],
)
def test_a_written_date_is_one_date_figure(text: str) -> None:
    assert [figure for figure, _ in figures(f"due on {text}.")] == [("date", "2026-12-06")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("06/12/2026", ("date", "2026-12-06", "2026-06-12")),  # either way round: both readings, day first
        ("6-12-2026", ("date", "2026-12-06", "2026-06-12")),
        ("13/12/2026", ("date", "2026-12-13")),  # only one reading is a date
        ("12/13/2026", ("date", "2026-12-13")),
        ("07/07/2026", ("date", "2026-07-07")),
        ("6 December", ("date", "--12-06")),  # no year
        ("December 6th", ("date", "--12-06")),
        ("December 2026", ("date", "2026-12")),
        ("Sept 2026", ("date", "2026-09")),
    ],
)
def test_numeric_and_partial_dates(text: str, expected: tuple) -> None:
    assert [figure for figure, _ in figures(f"due on {text}.")] == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fees of 3 may apply", [("", 3.0)]),  # "may" the verb, not the month
        ("2026-13-45", [("", 2026.0), ("", 13.0), ("", 45.0)]),  # no such month: its numbers, as before
        ("31 February 2026", [("", 31.0), ("date", "2026-02")]),  # no such day: the number, then the month
        ("in 2026 we had 12 users", [("", 2026.0), ("", 12.0)]),
    ],
)
def test_what_is_no_real_date_is_not_read_as_one(text: str, expected: list) -> None:
    assert [figure for figure, _ in figures(text)] == expected


def test_an_invented_date_is_reported_as_the_date() -> None:
    assert _service("Plans renew on 2026-03-01.") is None
    for same in ["1 March 2026", "March 1, 2026", "01/03/2026", "03/01/2026", "1 March", "March 2026"]:
        assert _service(f"Plans renew on {same}.") is None, same
    assert _service("Plans renew on Mar. 1, 2026. Thanks.") is None  # one sentence: "Mar." is no sentence end
    assert _service("Plans renew on Mar. 2, 2026.") == "'Mar. 2, 2026' is not a figure the policy states"
    assert _service("Plans renew on 2026-12-07.") == "'2026-12-07' is not a figure the policy states"
    # the policy's date for another matter (the end of support for version 1.8)
    assert "'2026-12-06' is in the policy only for other topics" in _service("Plans renew on 2026-12-06.")
    assert _service("Plans renew on 2 March 2026.") == "'2 March 2026' is not a figure the policy states"
    assert _service("Plans renew on 13/03/2026.") == "'13/03/2026' is not a figure the policy states"
    # the policy's own numeric date is ambiguous: either reading is stated
    assert _service("Invoices dated 5 April 2026 are final.") is None
    assert _service("Invoices dated April 5, 2026 are final.") is None
    assert _service("Invoices dated 4 May 2026 are final.") is None
    assert "'6 May 2026'" in _service("Invoices dated 6 May 2026 are final.")
    assert _service("Your plan renewed on 2026-02-14.", "I was charged on 14/02/2026") is None  # echoed


def test_keyboard_shortcuts_are_no_figures() -> None:
    assert figures("Press Ctrl+Shift+P, then Ctrl+Shift+K") == ()
