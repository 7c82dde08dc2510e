"""Params of the evaluate stage: the `evaluate` section of params.yaml, the only place its defaults live."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from stages.core.eval_set import EvalSetColumns, EvalSetParams
from stages.core.intent_model import TextFeatures
from stages.core.params import Section

__all__ = ["EvalSetColumns", "EvalSetParams", "EvaluateParams", "LeakCheckParams", "ProbeParams"]


class ProbeParams(TextFeatures):
    """The cheap intent probe: its TF-IDF features (the `TextFeatures` fields) and a logistic regression."""

    C: float = Field(default=10.0, gt=0)
    max_iter: int = Field(default=2000, ge=10)
    random_state: int = 0


class LeakCheckParams(Section):
    """`evaluate.leak_check`: when an eval row counts as leaked into a training set, beyond the same
    normalised text. The same rules as dedup's decontamination (dedup params), so a row that slipped
    past it (an edited eval file, a mix rebuilt from other rows) is still caught here."""

    near_duplicate_threshold: float | None = Field(default=0.75, gt=0, le=1)  # word-set Jaccard; None: off
    ngram: int = Field(default=13, ge=1, le=32)  # a shared run of this many words (shorter texts: all of it)
    min_words: int = Field(default=8, ge=1)  # eval texts shorter than this are matched exactly and near only

    @model_validator(mode="after")
    def _ordered(self) -> LeakCheckParams:
        if self.min_words > self.ngram:
            raise ValueError(f"min_words = {self.min_words} exceeds ngram = {self.ngram}")
        return self


class EvaluateParams(Section):
    """`evaluate`: the eval set, what a leak does, the probe, the bootstrap and the verdicts' metric and gap.

    `collapse_gap` is an absolute difference in the verdict metric (a fraction in (0, 1]).
    """

    eval_set: EvalSetParams = EvalSetParams()
    # An eval row whose text is in a training set: "drop" leaves it out of the eval set and counts it
    # (the training sets stay exactly the mix); "error" stops the stage, naming file:line.
    on_leak: Literal["drop", "error"] = "drop"
    leak_check: LeakCheckParams = LeakCheckParams()
    probe: ProbeParams = ProbeParams()
    # Macro-F1 and paired-difference intervals: percentile bootstrap with a fixed seed.
    bootstrap_samples: int = Field(default=1000, ge=100, le=100_000)
    bootstrap_seed: int = 6
    verdict_metric: Literal["accuracy", "macro_f1"] = "accuracy"
    # Synthetic-only at least this far (absolute) below human-only in a slice: synthetic collapse.
    collapse_gap: float = Field(default=0.2, gt=0, le=1)
