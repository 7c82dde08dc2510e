"""Params of the evaluate stage: the `evaluate` section of params.yaml, the only place its defaults live."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from stages.core.intent_model import TextFeatures
from stages.core.params import Section, repository_path


class EvalSetColumns(Section):
    """Column (CSV) or field (JSONL) names of an imported log."""

    text: str = Field(default="text", min_length=1)
    intent: str = Field(default="intent", min_length=1)
    slice: str | None = None  # None: each row's slice comes from params taxonomy


class EvalSetParams(Section):
    """The real held-out traffic: the repository's eval split, or an imported log.

    `path` is relative to the repository and, when read from a params file (core.params.load_section:
    the file's folder is the repository), must stay inside it (a ValueError naming the key that allows
    it, never the file's content) unless `allow_outside_repository`.
    """

    allow_outside_repository: bool = False
    path: str = Field(default="data/seed/eval.jsonl", min_length=1)
    format: Literal["rows", "csv", "jsonl"] = "rows"
    columns: EvalSetColumns = EvalSetColumns()
    unknown_intents: Literal["error", "skip"] = "error"

    @field_validator("path")
    @classmethod
    def _inside_repository(cls, value: str, info: ValidationInfo) -> str:
        root = (info.context or {}).get("repository")
        if root is not None:
            allowed = bool(info.data.get("allow_outside_repository"))
            repository_path(value, allowed, "evaluate.eval_set.allow_outside_repository", root)
        return value


class ProbeParams(TextFeatures):
    """The cheap intent probe: its TF-IDF features (the `TextFeatures` fields) and a logistic regression."""

    C: float = Field(default=10.0, gt=0)
    max_iter: int = Field(default=2000, ge=10)
    random_state: int = 0


class EvaluateParams(Section):
    """`evaluate`: the eval set, what a leak does, the probe, the bootstrap and the verdicts' metric and gap.

    `collapse_gap` is an absolute difference in the verdict metric (a fraction in (0, 1]).
    """

    eval_set: EvalSetParams = EvalSetParams()
    # An eval row whose text is in a training set: "drop" leaves it out of the eval set and counts it
    # (the training sets stay exactly the mix); "error" stops the stage, naming file:line.
    on_leak: Literal["drop", "error"] = "drop"
    probe: ProbeParams = ProbeParams()
    # Macro-F1 and paired-difference intervals: percentile bootstrap with a fixed seed.
    bootstrap_samples: int = Field(default=1000, ge=100, le=100_000)
    bootstrap_seed: int = 6
    verdict_metric: Literal["accuracy", "macro_f1"] = "accuracy"
    # Synthetic-only at least this far (absolute) below human-only in a slice: synthetic collapse.
    collapse_gap: float = Field(default=0.2, gt=0, le=1)
