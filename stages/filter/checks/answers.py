"""The answers check: the row's user turn still asks what its seed asked, so the reply still answers it.

A built-in row keeps its seed's reply, and a teacher row's reply follows the seed's policy rules; both
are right only if the new user turn has the seed's intent. A weak teacher wrote a user turn about
leaving a car and kept the seed's card-freeze reply (issue 14): the intent check passes it when no
intent stands out. Here the pipeline's intent model (stages/core/intent_model.py, the intent check's
TF-IDF + logistic regression, trained on the human seed rows with these settings) must rank the
row's label, its seed's intent, first: another intent may beat it by at most `tolerance`.
A reply that is not the seed's is judged by the policy_facts check, which runs on every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from stages.core.intent_model import TextFeatures
from stages.core.jsonl import read_jsonl
from stages.core.params import Section
from stages.filter.checks.base import Check, CheckInputs, Row
from stages.filter.checks.intent import IntentClassifier, IntentParams


class AnswersParams(Section):
    """`filter.answers`: how far another intent may beat the label, and the model's settings (by default
    the intent check's defaults: word 1-2-grams and character 3-5-grams, C = 10)."""

    tolerance: float = Field(default=0.0, ge=0, le=1)
    min_seed_rows: int = Field(default=IntentParams().min_seed_rows, ge=1)
    features: list[TextFeatures] = Field(default_factory=lambda: IntentParams().features, min_length=1)
    C: float = Field(default=IntentParams().C, gt=0)
    max_iter: int = Field(default=IntentParams().max_iter, ge=10)

    def classifier_params(self) -> IntentParams:
        """These settings as the intent check's params (what IntentClassifier.train takes)."""
        return IntentParams(min_seed_rows=self.min_seed_rows, features=self.features, C=self.C, max_iter=self.max_iter)


@dataclass(frozen=True)
class AnswersCheck(Check):
    """Rejects a row whose user turn reads as another intent than its seed's (one model call per batch).

    Reason: "answers_other_intent: the user turn reads as '<guess>' (<p>), before its seed's '<label>' (<p>)".
    """

    name: ClassVar[str] = "answers"
    codes: ClassVar[tuple[str, ...]] = ("answers_other_intent",)
    Params: ClassVar[type[Section]] = AnswersParams
    run_order: ClassVar[int] = 95
    needs: ClassVar[str] = "no seed rows, or fewer than two intents with answers.min_seed_rows seed rows"
    reads: ClassVar[frozenset[str]] = frozenset({"seeds"})

    classifier: IntentClassifier
    params: AnswersParams

    @classmethod
    def build(cls, params: AnswersParams, inputs: CheckInputs) -> AnswersCheck | None:
        """The check with a model trained on `inputs.seeds` (None without usable seed rows)."""
        if not inputs.seeds:
            return None
        classifier = IntentClassifier.train(read_jsonl(inputs.seeds), params.classifier_params())
        return cls(classifier, params) if classifier else None

    def check(self, row: Row) -> str | None:
        """The reason for one row (a batch of one)."""
        return self.check_batch([row])[0]

    def check_batch(self, rows: Sequence[Row]) -> list[str | None]:
        """One reason or None per row, from one model call for all rows with a known label."""
        results: list[str | None] = [None] * len(rows)
        # Synthetic rows only: a seed's intent is its expert's label, whatever the model says of it.
        for index, label, own, guess, best in self.classifier.readings(
            rows, lambda row: row.get("source") == "synthetic"
        ):
            if guess != label and best - own > self.params.tolerance:
                results[index] = (
                    f"answers_other_intent: the user turn reads as '{guess}' ({best:.2f}),"
                    f" before its seed's '{label}' ({own:.2f})"
                )
        return results
