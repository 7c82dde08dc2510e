"""The meaning check: a synthetic row says what its seed said, in English, whoever wrote it.

For every synthetic row with a known seed (data/seed/seeds.jsonl), built-in or teacher-made:

    span_missing      a protected span of the seed's user turns (a number with what it counts, an
                      amount, a date, a name, a place, a quoted phrase: stages/core/spans.py) is not
                      in the row's user turns ("80 quid" became "some money")
    negation_dropped  the row's user turns hold fewer negations than the seed's ("hasn't arrived"
                      became "arrived")
    ungrammatical     a turn that differs from the seed's breaks a rule of the offline grammar
                      sanity check (stages/filter/grammar.py: "Why has not it", "It is been", "a issue")

Each part can be switched off in `filter.meaning`. Case, spacing, quote marks, hyphens and sentence
marks may change, and a span is found whatever mark stands beside it ("18% GST" in "₹799 +18% GST",
stages/core/spans.py); a recombined row keeps every span of its seed by construction (it only takes
another case's opening when its own has none). None of the three fires on the expert seeds
(tests/test_meaning_checks.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from stages.core.params import Section
from stages.core.rows import user_text
from stages.core.spans import missing_from, negation_count, span_keys
from stages.filter.checks.base import Check, CheckInputs, Row
from stages.filter.grammar import grammar_problems
from stages.filter.seeds import conversation_turns, seed_index


class MeaningParams(Section):
    """`filter.meaning`: which of the three parts run (see the module docstring)."""

    spans: bool = True
    negation: bool = True
    grammar: bool = True


@dataclass(frozen=True)
class MeaningCheck(Check):
    """Rejects rows that lost a span or a negation of their seed, or read as broken English."""

    name: ClassVar[str] = "meaning"
    codes: ClassVar[tuple[str, ...]] = ("span_missing", "negation_dropped", "ungrammatical")
    Params: ClassVar[type[Section]] = MeaningParams
    run_order: ClassVar[int] = 75
    needs: ClassVar[str] = "no seed rows"
    reads: ClassVar[frozenset[str]] = frozenset({"seeds"})

    params: MeaningParams
    seeds: dict[str, Row]
    # per seed id: its user turns' span keys and negation count, read once rather than once per variation
    seed_spans: dict[str, tuple[tuple[str, str], ...]] = field(init=False, repr=False, compare=False)
    seed_negations: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Read each seed's spans and negations."""
        texts = {seed_id: user_text(seed) for seed_id, seed in self.seeds.items()}
        object.__setattr__(self, "seed_spans", {seed_id: span_keys(text) for seed_id, text in texts.items()})
        object.__setattr__(self, "seed_negations", {seed_id: negation_count(text) for seed_id, text in texts.items()})

    @classmethod
    def build(cls, params: MeaningParams, inputs: CheckInputs) -> MeaningCheck | None:
        """The check with the seed rows of `inputs.seeds` (None without them)."""
        return cls(params, seed_index(inputs.seeds)) if inputs.seeds else None

    def check(self, row: Row) -> str | None:
        """The first meaning fault of `row` (spans, then negation, then grammar), or None."""
        if row.get("source") != "synthetic":  # human text is the reference, not a rewording of one
            return None
        seed_id = row.get("seed_id", "")
        seed = self.seeds.get(seed_id)
        text = user_text(row)
        if seed is not None and self.params.spans:
            missing = missing_from(self.seed_spans[seed_id], text)
            if missing:
                return f"span_missing: {', '.join(repr(span) for span in missing[:3])} of the seed not kept"
        if seed is not None and self.params.negation:
            before, after = self.seed_negations[seed_id], negation_count(text)
            if after < before:
                return f"negation_dropped: {before} negation(s) in the seed's user turns, {after} here"
        if self.params.grammar:
            seed_texts = {m["content"] for m in conversation_turns(seed)} if seed else set()
            for index, message in enumerate(conversation_turns(row)):
                if message["content"] in seed_texts:
                    continue
                problems = grammar_problems(message["content"])
                if problems:
                    return f"ungrammatical: messages.{index} ({message['role']}) {problems[0]}"
        return None
