"""The policy_facts check: figures and claims in assistant replies checked against the written policy.

Figures are read generically (stages/filter/figures.py: currencies, %, times, durations, measures,
counts) and the policy as units with topics (stages/filter/policy.py). Replies are rejected for
- a figure the policy never states (a fee of an amount the policy has nowhere, "within 60 days");
- with `context` on, a figure the policy states only for another matter: the units that state it must
  be among those the figure's sentence and its reply are about, not merely share one word with it;
- with `action_claims` on, a claim to have acted ("I've refunded", "we have rebooked"): the verbs come
  from the domain file (seeds/domain.yaml `action_claims`; neutral defaults without one), as the
  assistant can only explain and hand over.
No figure is read inside the product's own contact points (the domain file's `public_contacts`: a
helpline's digits are not a count). Numbers the customer wrote in the same conversation may be repeated
("as 3 weeks have passed"), even when their unit word is misspelt there ("3 weesk ago"). The bank
example's figures (every expert reply passes, logged bad replies caught) are kept true by
tests/test_example_bank.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from stages.core.domain import NEUTRAL_ACTION_CLAIMS, PublicContacts
from stages.core.params import Section
from stages.core.rows import assistant_text, user_text
from stages.filter.checks.base import Check, CheckInputs, Row
from stages.filter.checks.pii import NO_CONTACTS, without_contacts
from stages.filter.dates import ABBREVIATED_MONTHS
from stages.filter.figures import DIGITS, Figure, figures, implied, number, readings
from stages.filter.policy import PolicyFacts, topic_words

# A sentence ends at . ! ? ; : and a space, but not after an abbreviated month before its day ("Dec. 6, 2026")
_AFTER_MONTH = "".join(rf"(?<!\b{name}\.)" for name in ABBREVIATED_MONTHS)
_SENTENCE = re.compile(rf"(?<=[.!?;:])(?:{_AFTER_MONTH}|(?!\s+\d))\s+|\n+")
# A bare "0" or "1" ("1 more try", "one short question") is how people talk, not a policy fact.
_NOT_FIGURES = frozenset({("", 0.0), ("", 1.0)})


def action_claim_pattern(verbs: tuple[str, ...]) -> re.Pattern[str]:
    """ "I've / I have / we've / we have [just|already|now] <verb>" for any of `verbs`, case-insensitive."""
    alternatives = "|".join(sorted((re.escape(verb).replace(r"\ ", r"\s+") for verb in verbs), key=len, reverse=True))
    return re.compile(
        rf"\b(?:I(?:'ve| have)|we(?:'ve| have))\s+(?:just\s+|already\s+|now\s+)?(?:{alternatives})\b", re.IGNORECASE
    )


@lru_cache(maxsize=65_536)
def _sentences(reply: str) -> tuple[tuple[frozenset[str], tuple[tuple[Figure, str], ...]], ...]:
    """Per sentence of a reply that states a figure: its topic words and its figures; cached."""
    found = []
    for sentence in _SENTENCE.split(reply):
        stated = figures(sentence)
        if stated:
            found.append((topic_words(sentence), stated))
    return tuple(found)


@dataclass(frozen=True)
class PolicyChecker:
    """The policy's facts and the action-claim pattern: what `problem` checks a reply against."""

    facts: PolicyFacts
    claims: re.Pattern[str]
    public: PublicContacts = NO_CONTACTS  # the product's contact points: no figures are read in them

    def problem(
        self, reply: str, customer_text: str, context: bool, action_claims: bool, refs: frozenset[str] = frozenset()
    ) -> str | None:
        """Why `reply` states something the policy does not, or None; `refs` are the rules the row's seed
        applies (meta `policy_refs`), whose figures are on topic."""
        if action_claims:
            claim = self.claims.search(reply)
            if claim:
                return f"claims an account action the assistant cannot take ({claim.group(0)!r})"
        sentences = _sentences(without_contacts(reply, self.public))
        if not sentences:
            return None
        reply_topics = topic_words(reply)
        for sentence_topics, stated in sentences:
            for figure, written in stated:
                if figure in _NOT_FIGURES:
                    continue
                problem = self._unsupported(figure, written, sentence_topics, reply_topics, context, refs)
                if problem and not _echoed(figure, customer_text):  # the customer's own figures may be repeated
                    return problem
        return None

    def _unsupported(
        self,
        figure: Figure,
        written: str,
        sentence: frozenset[str],
        reply: frozenset[str],
        context: bool,
        refs: frozenset[str],
    ) -> str | None:
        """Why the policy does not back `figure` (written so), or None: no stated figure backs it
        (PolicyFacts.supporting) or, with `context`, none of those backing it is on topic (off_topic)."""
        supporting = self.facts.supporting(figure)
        if not supporting:
            return f"{written!r} is not a figure the policy states"
        if not context:
            return None
        about = None
        for backing in supporting:
            about = self.facts.off_topic(backing, sentence, reply, refs)
            if about is None:
                return None
        return f"{written!r} is in the policy only for other topics (the reply is about {about})"


def _echoed(figure: Figure, customer_text: str) -> bool:
    """Whether the customer wrote `figure`: each of its numbers, whatever followed them in the customer's
    text ("3 weesk ago" lets the reply say "3 weeks"), or, for a date or a version, one of its readings."""
    if len(figure) > 1 and isinstance(figure[1], str):  # a date or a version
        return not _customer_forms(customer_text).isdisjoint(readings(figure))
    values = [value for value in figure[1:] if isinstance(value, float)]
    return bool(values) and all(value in _customer_numbers(customer_text) for value in values)


@lru_cache(maxsize=4096)
def _customer_numbers(customer_text: str) -> frozenset[float]:
    """Every number the customer's text has ("5,000", "1 000", "3")."""
    return frozenset(number(value) for value in DIGITS.findall(customer_text))


@lru_cache(maxsize=4096)
def _customer_forms(customer_text: str) -> frozenset[Figure]:
    """Every figure the customer's text states, with what each implies (a date's readings and forms)."""
    return frozenset(form for figure, _ in figures(customer_text) for form in implied(figure))


class PolicyFactsParams(Section):
    """`filter.policy_facts`: the two rules beyond "the policy states this figure somewhere"."""

    context: bool = True  # a figure must be stated by a policy unit on the reply's topic
    action_claims: bool = True  # "I've <verb>...": the assistant cannot act (verbs: the domain file)


@dataclass(frozen=True)
class PolicyFactsCheck(Check):
    """Rejects replies stating figures or account actions the policy does not support (module docstring)."""

    name: ClassVar[str] = "policy_facts"
    Params: ClassVar[type[Section]] = PolicyFactsParams
    run_order: ClassVar[int] = 80
    needs: ClassVar[str] = "no policy file"

    checker: PolicyChecker
    params: PolicyFactsParams

    @classmethod
    def build(cls, params: PolicyFactsParams, inputs: CheckInputs) -> PolicyFactsCheck | None:
        """The check against `inputs.policy` and the domain's verbs (None without a policy; a bad file is
        a UserError)."""
        if not inputs.policy:
            return None
        verbs = tuple(inputs.domain.action_claims) if inputs.domain else NEUTRAL_ACTION_CLAIMS
        public = inputs.domain.contacts() if inputs.domain else NO_CONTACTS
        return cls(PolicyChecker(PolicyFacts.from_file(inputs.policy), action_claim_pattern(verbs), public), params)

    def check(self, row: Row) -> str | None:
        """`policy_facts: <what the policy does not support>` for the assistant turns, else None."""
        refs = frozenset((row.get("meta") or {}).get("policy_refs") or ())
        problem = self.checker.problem(
            assistant_text(row), user_text(row), self.params.context, self.params.action_claims, refs
        )
        return f"policy_facts: {problem}" if problem else None
