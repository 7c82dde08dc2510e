"""The product's own published contact points (domain file `public_contacts`) are not personal data.

A support reply that gives the company's role address, helpline or status page was reported by the pii
check: validate failed on every seed citing one and the filter rejected every generated row citing one,
and the only way out (dropping `email` from `filter.pii.kinds`) stopped catching customers' addresses.
Listed contact points are not reported, in any written form (e-mail addresses in any case, phone
numbers by their digits: spaces, dashes, dots, brackets, with or without the country code); any other
personal data in the same text still is, an employee's name@ the company's domain included. The
contact points are a fictional SaaS company's (example-saas.io), not the fixture's or a shipped domain's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from stages.core.domain import Domain, domain_problems
from stages.filter.checks.base import CheckInputs
from stages.filter.checks.pii import PiiCheck
from stages.filter.params import FilterParams
from tests.conftest import read_rows, run_stage

CONTACTS = [
    "privacy@example-saas.io",
    "Support@Example-SaaS.io",  # listed in any case
    "+1 800 555 0199",
    "+44 20 7946 0958",
    "0800 123 4567",  # no country code: these digits only
    "https://example-saas.io/call?line=+14155552671",  # a URL holding what the phone finder finds
]
WITHOUT = PiiCheck.build(FilterParams().pii, CheckInputs()).check  # the same check, no contact points listed


@cache
def _check() -> Callable[[dict[str, object]], str | None]:
    """The pii check of a domain listing CONTACTS (built on first use: each test fails alone without the field)."""
    domain = Domain(product="Tasklane", system_prompt="You help Tasklane's customers.", public_contacts=CONTACTS)
    return PiiCheck.build(FilterParams().pii, CheckInputs(domain=domain)).check


# Each written as a reply may write it; every one was reported before (WITHOUT finds each).
PUBLIC_FORMS = [
    "Write to privacy@example-saas.io and we will answer within a day.",
    "Write to PRIVACY@Example-SaaS.IO and we will answer within a day.",
    "Our address is support@example-saas.io.",
    "Open mailto:SUPPORT@EXAMPLE-SAAS.IO from the app.",
    "Call +1 800 555 0199 any time.",
    "Call +1-800-555-0199 any time.",
    "Call +1 (800) 555-0199 any time.",
    "Call 1-800-555-0199 any time.",
    "Call 1 800 555 0199 any time.",
    "Call (800) 555-0199 any time.",
    "Call 800.555.0199 any time.",
    "Call 800-555-0199 any time.",
    "Call 001 800 555 0199 from abroad.",
    "Call +18005550199 any time.",
    "Call 18005550199 any time.",
    "Call +44 20 7946 0958 from the UK.",
    "Call +44 (0)20 7946 0958 from the UK.",
    "Call 020 7946 0958 from the UK.",
    "Call 020-7946-0958 from the UK.",
    "Call 0044 20 7946 0958 from abroad.",
    "Call +442079460958 from abroad.",
    "Call 0800 123 4567 for free.",
    "Call 0800-123-4567 for free.",
    "Call 08001234567 for free.",
    "Use https://example-saas.io/call?line=+14155552671 to call us from the browser.",
    "Use HTTPS://EXAMPLE-SAAS.IO/call?line=+14155552671.",
    "Use example-saas.io/call?line=+14155552671 to call us.",
    "Write to privacy@example-saas.io or call +1 800 555 0199; status: https://example-saas.io/call?line=+14155552671",
]
# (text, what is still reported): personal data beside a listed contact point, and near misses.
STILL_FOUND = [
    ("Write to privacy@example-saas.io or to jane.doe@gmail.com.", "email in assistant text (j******e@gmail.com)"),
    ("Write to JANE.DOE@gmail.com, not privacy@example-saas.io.", "email in assistant text (J******E@gmail.com)"),
    ("Ask support@example-saas.io or jane.doe@example-saas.io.", "email in assistant text (j******e@example-saas.io)"),
    ("Write to privacy@example-saas.io.evil.io now.", "email in assistant text (p*****y@example-saas.io.evil.io)"),
    ("Write to privacy.team@example-saas.io now.", "email in assistant text (p**********m@example-saas.io)"),
    ("Call +1 800 555 0199 or my mobile 07700 900123.", "phone in assistant text (07*******23)"),
    ("Call 1-800-555-0199 or +1 (415) 555-2671.", "phone in assistant text (14*******71)"),
    ("Call +1 800 555 0198 any time.", "phone in assistant text (18*******98)"),  # one digit off
    ("Call +33 800 555 0199 in France.", "phone in assistant text (33********99)"),  # another country's
    ("Call +44 800 555 0199 in the UK.", "phone in assistant text (44********99)"),
    ("Call +33 0800 123 4567 in France.", "phone in assistant text (33*********67)"),
    ("Call 0800 123 4567, my card is 4539 1488 0343 6467.", "card_number in assistant text (4539********6467)"),
    ("Use https://example-saas.io/call?line=+14155552672 to call.", "phone in assistant text (14*******72)"),
    ("Use https://example-saas.io/call?line=+14155552671&me=+447700900123", "phone in assistant text (14*******71)"),
    ("Use https://evil-example-saas.io/call?line=+14155552671 to call.", "phone in assistant text (14*******71)"),
]


def _chat(reply: str, user: str = "How do I reach you?") -> dict[str, object]:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]}


@pytest.mark.parametrize("text", PUBLIC_FORMS)
def test_listed_contact_points_are_not_personal_data_in_any_written_form(text: str) -> None:
    assert WITHOUT(_chat(text)) is not None, text  # reported when not listed
    assert _check()(_chat(text)) is None
    assert _check()(_chat("Thanks.", user=f"Is this you? {text}")) is None  # a customer quoting it, too


@pytest.mark.parametrize(("text", "reason"), STILL_FOUND)
def test_other_personal_data_in_the_same_text_is_still_reported(text: str, reason: str) -> None:
    assert _check()(_chat(text)) == f"pii: {reason}"


def test_a_listed_number_beside_a_customers_is_passed_and_theirs_reported_whichever_comes_first() -> None:
    for customer in ("jane.doe@gmail.com", "07700 900123", "+49 30 901820 12"):
        for text in (f"Call +1 800 555 0199, or {customer}", f"{customer}, or call +1 800 555 0199"):
            assert _check()(_chat(text)) is not None, text
            assert _check()(_chat(text.replace(customer, "us"))) is None, text


def _domain_file(tmp_path: Path, entries: str) -> tuple[Path, list[str]]:
    path = tmp_path / "domain.yaml"
    path.write_text(f"product: Tasklane\nsystem_prompt: s\npublic_contacts:\n{entries}", encoding="utf-8")
    return path, domain_problems(path)[1]


def test_every_bad_contact_point_is_one_line_naming_the_file_line_and_field(tmp_path: Path) -> None:
    entries = (
        "  - privacy@example-saas.io\n"  # 4: fine
        "  - '@example-saas.io'\n"  # 5
        "  - example-saas.io\n"  # 6
        "  - +1 800 555\n"  # 7
        "  - call us any time\n"  # 8
        "  - 18005550199\n"  # 9: a YAML number
        "  - ftp://example-saas.io/files\n"  # 10
        "  - 'https:///status'\n"  # 11
        "  - ''\n"  # 12
        "  - '+1 800 555 0199 ext. 12'\n"  # 13
        "  - '12'\n"  # 14
        "  - jane@@example-saas.io\n"  # 15
    )
    path, problems = _domain_file(tmp_path, entries)
    expected = [
        "5: field 'public_contacts.1': a whole e-mail domain is not a contact point: list each role address",
        "6: field 'public_contacts.2': a domain alone is not a contact point: list each role address",
        "7: field 'public_contacts.3': '+1 800 555' is not a possible phone number",
        "8: field 'public_contacts.4': 'call us any time' is not an e-mail address, a phone number",
        "9: field 'public_contacts.5': a contact point is text: write a phone number in quotes",
        "10: field 'public_contacts.6': 'ftp://example-saas.io/files' is not an e-mail address, a phone number",
        "11: field 'public_contacts.7': 'https:///status' is not a URL with a host name",
        "12: field 'public_contacts.8': an entry is empty",
        "13: field 'public_contacts.9': '+1 800 555 0199 ext. 12' is not an e-mail address, a phone number",
        "14: field 'public_contacts.10': '12' is not a phone number: 3 to 15 digits (E.164)",
        "15: field 'public_contacts.11': 'jane@@example-saas.io' is not an e-mail address",
    ]
    assert len(problems) == len(expected), problems
    for start, problem in zip(expected, problems, strict=True):
        assert problem.startswith(f"{path}:{start}"), (start, problem)
        assert "\n" not in problem
    good = "  - privacy@example-saas.io\n  - '+1 800 555 0199'\n  - https://status.example-saas.io\n  - 0800 123 4567\n"
    assert _domain_file(tmp_path, good)[1] == []


def _cite_contacts(project: Path, contacts: list[str] | None) -> dict[int, str]:
    """Replies of cases.jsonl lines 2-4 give a contact point, line 5's a customer's address beside one, the
    policy states the helpline; `contacts` (None: no field) become the domain's `public_contacts`.
    Returns line -> case id."""
    cases = project / "seeds/cases.jsonl"
    lines = cases.read_text(encoding="utf-8").splitlines()
    replies = {
        2: "Please write to privacy@example-saas.io and we will delete your data.",
        3: "Please call the helpline on +1 (800) 555-0199 and an agent will look into it.",
        4: "Please write to SUPPORT@example-saas.io and we will look into the missing items.",
        5: "Please write to support@example-saas.io or to jane.doe@gmail.com about the refund.",
    }
    ids = {}
    for number, reply in replies.items():
        line = json.loads(lines[number - 1])
        line["messages"][-1]["content"] = reply
        lines[number - 1] = json.dumps(line)
        ids[number] = line["case_id"]
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8")
    policy = project / "seeds/policy.md"  # a reply's figures are the policy's (policy_facts): it states the helpline
    policy.write_text(policy.read_text(encoding="utf-8") + "- helpline: +1 800 555 0199\n", encoding="utf-8")
    if contacts is not None:
        domain = project / "seeds/domain.yaml"
        listed = "".join(f"  - '{contact}'\n" for contact in contacts)
        domain.write_text(domain.read_text(encoding="utf-8") + f"public_contacts:\n{listed}", encoding="utf-8")
    return ids


def _pii_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "the filter would reject this row (pii:" in line]


def test_validate_and_the_filter_pass_seeds_citing_listed_contact_points(project: Path) -> None:
    """Unlisted, validate names every citing seed; listed, only the one with a customer's address,
    and the filter's verdicts on the seeds and their generated variations agree."""
    ids = _cite_contacts(project, None)
    before = _pii_lines(run_stage("validate", project, check=False).stderr)
    assert [line.split(": field")[0] for line in before] == [f"seeds/cases.jsonl:{n}" for n in (2, 3, 4, 5)], before

    (project / "seeds/domain.yaml").write_text(
        (project / "seeds/domain.yaml").read_text(encoding="utf-8")
        + "public_contacts: [privacy@example-saas.io, support@example-saas.io, '+1 800 555 0199']\n",
        encoding="utf-8",
    )
    validate = run_stage("validate", project, check=False)
    assert validate.stderr.splitlines() == [
        "error: 1 problem(s):",
        "seeds/cases.jsonl:5: field 'messages': the filter would reject this row"
        " (pii: email in assistant text (j******e@gmail.com))",
    ], validate.stderr
    for stage in ("seed", "generate", "filter"):
        run_stage(stage, project)
    verdicts = {r["case_id"]: r["reasons"] for r in read_rows(project / "data/filter/human.jsonl")}
    assert [verdicts[ids[n]] for n in (2, 3, 4)] == [[], [], []]
    assert verdicts[ids[5]] == ["pii: email in assistant text (j******e@gmail.com)"]
    seeds = {row["id"]: row["case_id"] for row in read_rows(project / "data/seed/seeds.jsonl")}
    kept = {seeds[row["seed_id"]] for row in read_rows(project / "data/filter/kept.jsonl")}
    assert {ids[n] for n in (2, 3, 4)} <= kept
    pii = {seeds[row["seed_id"]] for row in read_rows(project / "data/filter/rejected.jsonl")
           if any(reason.startswith("pii:") for reason in row["reasons"])}  # fmt: skip
    assert pii == {ids[5]}


def test_a_bad_contact_point_is_a_validate_problem_naming_its_line(project: Path) -> None:
    _cite_contacts(project, ["privacy@example-saas.io", "@example-saas.io"])
    errors = run_stage("validate", project, check=False).stderr
    line = len((project / "seeds/domain.yaml").read_text(encoding="utf-8").splitlines())
    assert f"seeds/domain.yaml:{line}: field 'public_contacts.1': a whole e-mail domain is not a contact point" in (
        errors
    ), errors
    assert "Traceback" not in errors


POLICY_TEXT = """# Plans

1.1 **Seats.** A plan costs $12 per seat a month; a refund is paid within 14 days.

1.2 **Contact.** Write to support or call us; answers within 2 working days.
"""


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("Call +1 800 555 0199 and we answer within 2 working days.", None),
        ("Call 1-800-555-0199 or (800) 555-0199 and we answer within 2 working days.", None),
        ("Call +44 20 7946 0958 or 020 7946 0958; a refund is paid within 14 days.", None),
        ("See https://example-saas.io/call?line=+14155552671 and write to privacy@example-saas.io.", None),
        ("Call +1 800 555 0123 and we answer within 2 working days.", "not a figure the policy states"),
        ("Call +1 800 555 0199; a refund is paid within 30 days.", "'30 days' is not a figure the policy states"),
    ],
)
def test_policy_facts_reads_no_figure_in_a_listed_contact_point(
    tmp_path: Path, reply: str, verdict: str | None
) -> None:
    """A helpline's digits are not counts the policy must state: policy_facts reads no figure inside a
    listed contact point (any written form), and still reads them in an unlisted number and elsewhere."""
    from stages.filter.checks.policy_facts import PolicyFactsCheck, PolicyFactsParams

    policy = tmp_path / "policy.md"
    policy.write_text(POLICY_TEXT, encoding="utf-8")
    domain = Domain(product="Tasklane", system_prompt="You help Tasklane's customers.", public_contacts=CONTACTS)
    check = PolicyFactsCheck.build(PolicyFactsParams(), CheckInputs(policy=policy, domain=domain))
    found = check.check(_chat(reply))
    if verdict is None:
        assert found is None, found
    else:
        assert found is not None and verdict in found, found
