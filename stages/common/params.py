"""params.yaml, validated on load: a wrong key or value is an error that names the key.

Each section sits beside its stage (as in DVC's example-get-started): `taxonomy` is shared,
then one section per stage. dvc.yaml lists, per stage, exactly the sections it reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stages.common.errors import UserError
from stages.common.hashing import sha256_hex

DEFAULT_PARAMS_FILE = Path("params.yaml")
S = TypeVar("S", bound="Section")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Taxonomy(Section):
    slices: dict[str, list[str]] = Field(min_length=1)
    critical: list[str]

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        unknown = [name for name in self.critical if name not in self.slices]
        if unknown:
            raise ValueError(f"critical slice(s) {unknown} are not in taxonomy.slices")
        seen: dict[str, str] = {}
        for slice_name, intents in self.slices.items():
            for intent in intents:
                if intent in seen:
                    raise ValueError(f"intent '{intent}' is in both '{seen[intent]}' and '{slice_name}'")
                seen[intent] = slice_name
        return self

    def slice_of(self, intent: str) -> str | None:
        for slice_name, intents in self.slices.items():
            if intent in intents:
                return slice_name
        return None

    def is_critical(self, slice_name: str) -> bool:
        return slice_name in self.critical


class SeedParams(Section):
    min_cases_per_intent: int = Field(default=1, ge=0)


BUILTIN_TEMPLATES = (
    "lexical_swap",
    "casual_short",
    "formal_verbose",
    "noisy_typing",
    "frustrated",
    "situational",
)


class TeacherGenerator(Section):
    """One (model, prompt template, temperature) combination of the teacher backend.

    `template` names a file prompts/<template>.md; `weight` is its share relative to the others.
    """

    model: str = Field(min_length=1)
    template: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    temperature: float = Field(default=0.7, ge=0, le=2)
    weight: int = Field(default=1, ge=1, le=1000)

    @property
    def identity(self) -> str:
        # Assignment hashes on this, not on temperature or weight, so tuning those two never
        # moves rows between generators (and so never re-requests rows of the other generators).
        return f"{self.model}|{self.template}"


class ModelPrice(Section):
    """USD per million tokens, as on the provider's price page."""

    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)


TeacherResponseFormat = Literal["json_schema", "json_object", "json_object_schema", "text"]


class OpenAIParams(Section):
    """The `openai` backend: any OpenAI-compatible chat completions endpoint.

    The key is read only from the OPENAI_API_KEY environment variable, never from here.
    """

    base_url: str | None = None  # None: OPENAI_BASE_URL, else the SDK default (api.openai.com)
    generators: list[TeacherGenerator] = Field(
        default_factory=lambda: [TeacherGenerator(model="gpt-4o-mini", template="variation_rephrase")],
        min_length=1,
    )
    # Preference pairs for seeds marked `pair: true`: two candidates from two different entries.
    pair_generators: list[TeacherGenerator] = Field(
        default_factory=lambda: [
            TeacherGenerator(model="gpt-4o-mini", template="reply_concise"),
            TeacherGenerator(model="gpt-4o-mini", template="reply_thorough"),
        ]
    )
    # json_schema: OpenAI structured outputs; json_object: JSON mode; json_object_schema: llama.cpp's
    # {"type": "json_object", "schema": ...}; text: no response_format (answers are still parsed).
    response_format: TeacherResponseFormat = "json_schema"
    max_tokens: int = Field(default=800, ge=1, le=200_000)
    # Reasoning models (o-series, gpt-5) accept only max_completion_tokens.
    token_limit_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    concurrency: int = Field(default=16, ge=1, le=1024)
    rpm_limit: int | None = Field(default=None, ge=1)
    tpm_limit: int | None = Field(default=None, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_base_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: {"gpt-4o-mini": ModelPrice(input_per_1m=0.15, output_per_1m=0.6)}
    )
    max_cost_usd: float | None = Field(default=None, ge=0)  # hard cap on what one run spends

    @model_validator(mode="before")
    @classmethod
    def _no_key_in_params(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(name in data for name in ("api_key", "key", "openai_api_key")):
            raise ValueError("never put the API key in params: set the OPENAI_API_KEY environment variable")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> OpenAIParams:
        if self.base_url is not None:
            from urllib.parse import urlsplit  # local: only this validator parses URLs

            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                example = "http://127.0.0.1:8080/v1"
                raise ValueError(f"base_url: expected an http(s) URL such as {example}, got {self.base_url!r}")
            if parts.username or parts.password:
                raise ValueError("base_url: must not contain credentials; the key comes from OPENAI_API_KEY")
        for field in ("generators", "pair_generators"):
            entries: list[TeacherGenerator] = getattr(self, field)
            identities = [entry.identity for entry in entries]
            if len(set(identities)) != len(identities):
                raise ValueError(f"{field}: each (model, template) combination may be listed once")
        if len(self.pair_generators) == 1:
            raise ValueError("pair_generators: list at least two (the two candidates must differ) or none")
        unpriced = sorted({g.model for g in self.generators + self.pair_generators} - set(self.prices))
        if unpriced:
            raise ValueError(f"prices: no price for model(s) {unpriced} (use 0 for a local server)")
        return self


class GenerateParams(Section):
    backend: Literal["builtin", "openai"] = "builtin"
    seed: int = 0
    variations_per_seed: int = Field(default=4, ge=0, le=1000)
    templates: list[str] = Field(default=list(BUILTIN_TEMPLATES), min_length=1)  # builtin backend only
    temperatures: list[float] = Field(default=[0.7], min_length=1)  # builtin backend only
    openai: OpenAIParams = Field(default_factory=OpenAIParams)

    @model_validator(mode="after")
    def _known_templates(self) -> GenerateParams:
        unknown = [name for name in self.templates if name not in BUILTIN_TEMPLATES]
        if unknown:
            raise ValueError(f"templates: unknown builtin template(s) {unknown}; known: {list(BUILTIN_TEMPLATES)}")
        if len(set(self.templates)) != len(self.templates):
            raise ValueError("templates: a template is listed twice")
        if any(not 0 <= t <= 2 for t in self.temperatures):
            raise ValueError(f"temperatures: each must be between 0 and 2, got {self.temperatures}")
        return self


FilterCheck = Literal[
    "schema", "length", "blocklist", "pii", "refusal", "ai_boilerplate", "language", "repetition", "policy_facts",
    "intent",
]  # fmt: skip
FILTER_CHECKS: tuple[str, ...] = FilterCheck.__args__  # type: ignore[attr-defined]


class FilterParams(Section):
    """Filter checks (stages/common/checks.py); each is switched on by listing it in `checks`."""

    checks: list[FilterCheck] = Field(default=list(FILTER_CHECKS))
    min_user_chars: int = Field(default=3, ge=0)
    max_user_chars: int = Field(default=800, ge=1)
    min_assistant_chars: int = Field(default=20, ge=0)
    max_assistant_chars: int = Field(default=1500, ge=1)
    pii_kinds: list[Literal["email", "phone", "card_number", "iban"]] = Field(
        default=["email", "phone", "card_number", "iban"], min_length=1
    )
    language_min_words: int = Field(default=6, ge=1)
    language_min_latin_share: float = Field(default=0.9, ge=0, le=1)
    repetition_max_duplicate_share: float = Field(default=0.5, gt=0, le=1)
    repetition_cross_turn_words: int = Field(default=5, ge=0)  # 0: off
    policy_facts_context: bool = True
    policy_action_claims: bool = True
    intent_margin: float = Field(default=0.4, gt=0, le=1)
    intent_min_probability: float = Field(default=0.0, ge=0, le=1)
    intent_min_seed_rows: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> FilterParams:
        if len(set(self.checks)) != len(self.checks):
            raise ValueError("checks: a check is listed twice")
        if self.min_user_chars > self.max_user_chars:
            raise ValueError(f"min_user_chars ({self.min_user_chars}) exceeds max_user_chars ({self.max_user_chars})")
        if self.min_assistant_chars > self.max_assistant_chars:
            raise ValueError(
                f"min_assistant_chars ({self.min_assistant_chars}) exceeds max_assistant_chars"
                f" ({self.max_assistant_chars})"
            )
        return self


class DedupParams(Section):
    """Near-duplicate settings; the defaults are measured on bench/bench_dedup.py (see BENCHMARKS.md)."""

    text: Literal["user", "conversation"] = "user"
    ngram: int = Field(default=1, ge=1, le=13)
    threshold: float = Field(default=0.75, gt=0, le=1)
    max_difference: int = Field(default=2, ge=0)
    num_perm: int = Field(default=128, ge=16, le=1024)
    bands: int = Field(default=16, ge=1)
    rows_per_band: int = Field(default=8, ge=1)
    against_seeds: bool = True
    decontaminate_eval: bool = True
    decontaminate_ngram: int = Field(default=13, ge=1, le=16)
    decontaminate_min_words: int = Field(default=8, ge=1)

    @model_validator(mode="after")
    def _bands_fit(self) -> DedupParams:
        if self.bands * self.rows_per_band > self.num_perm:
            raise ValueError(
                f"bands x rows_per_band = {self.bands * self.rows_per_band} exceeds num_perm = {self.num_perm}"
            )
        if self.decontaminate_min_words > self.decontaminate_ngram:
            raise ValueError(
                f"decontaminate_min_words = {self.decontaminate_min_words} exceeds"
                f" decontaminate_ngram = {self.decontaminate_ngram}"
            )
        return self


class ReviewParams(Section):
    seed: int = 0
    critical_rate: float = Field(default=1.0, ge=0, le=1)
    default_rate: float = Field(default=0.1, ge=0, le=1)
    max_per_critical_slice: int = Field(default=200, ge=0)
    # Overall rows per run; critical slices are served first. None: no overall cap.
    budget_rows: int | None = Field(default=None, ge=0)
    flag_error_rate: float = Field(default=0.1, gt=0, le=1)
    # A decision whose id matches no row at all: "error" (typo, wrong file) or "warn" (count it,
    # e.g. while experimenting with generate params that replace rows).
    on_unknown_id: Literal["error", "warn"] = "error"


class ExclusionRule(Section):
    """Targeted rollback: drop every synthetic row whose provenance matches all the given fields."""

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

    @model_validator(mode="after")
    def _has_a_condition(self) -> ExclusionRule:
        if not self.model_dump(exclude={"name"}, exclude_none=True):
            raise ValueError(f"rule '{self.name}' has no condition: it would remove every synthetic row")
        return self


class MixParams(Section):
    seed: int = 0
    min_human_share: float = Field(default=0.3, ge=0, le=1)
    max_synthetic_share_critical: float = Field(default=0.5, ge=0, le=1)
    critical_requires_approval: bool = True
    eval_fraction: float = Field(default=0.15, ge=0, lt=1)
    # Optional upper bound on rows per slice (human rows are never dropped to meet it).
    target_rows: dict[str, int] = Field(default_factory=dict)
    # No intent above this multiple of the median intent's human rows (synthetic rows trimmed); null: off.
    max_intent_rows_vs_median: float | None = Field(default=None, ge=1)
    exclude: list[ExclusionRule] = Field(default_factory=list)
    # Teacher preference pairs whose two replies are at least this similar (word Jaccard) are dropped.
    pair_max_similarity: float = Field(default=0.8, gt=0, le=1)
    system_prompt: str = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> MixParams:
        names = [rule.name for rule in self.exclude]
        if len(set(names)) != len(names):
            raise ValueError(f"exclude: rule names must be unique, got {names}")
        if any(count < 0 for count in self.target_rows.values()):
            raise ValueError("target_rows: counts must be >= 0")
        return self


class EvalSetColumns(Section):
    """Column (CSV) or field (JSONL) names of an imported log."""

    text: str = Field(default="text", min_length=1)
    intent: str = Field(default="intent", min_length=1)
    slice: str | None = None  # None: each row's slice comes from params taxonomy


class EvalSetParams(Section):
    """The real held-out traffic: the repository's eval split, or an imported log."""

    path: str = Field(default="data/seed/eval.jsonl", min_length=1)
    format: Literal["rows", "csv", "jsonl"] = "rows"
    columns: EvalSetColumns = EvalSetColumns()
    unknown_intents: Literal["error", "skip"] = "error"


class ProbeParams(Section):
    """The cheap intent probe: TF-IDF features and a logistic regression."""

    analyzer: Literal["word", "char_wb"] = "word"
    ngram_range: tuple[int, int] = (1, 2)
    sublinear_tf: bool = True
    C: float = Field(default=10.0, gt=0)
    max_iter: int = Field(default=2000, ge=10)
    random_state: int = 0

    @field_validator("ngram_range")
    @classmethod
    def _ordered_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1] <= 8:
            raise ValueError(f"needs 1 <= low <= high <= 8, got {list(value)}")
        return value


class EvaluateParams(Section):
    eval_set: EvalSetParams = EvalSetParams()
    # An eval row whose text is in a training set: "drop" leaves it out of the eval set and counts it
    # (the training sets stay exactly the mix); "error" stops the stage, naming file:line.
    on_leak: Literal["drop", "error"] = "drop"
    probe: ProbeParams = ProbeParams()
    # Macro-F1 and paired-difference intervals: percentile bootstrap with a fixed seed.
    bootstrap_samples: int = Field(default=1000, ge=100, le=100_000)
    bootstrap_seed: int = 0
    verdict_metric: Literal["accuracy", "macro_f1"] = "accuracy"
    # Synthetic-only at least this far (absolute) below human-only in a slice: synthetic collapse.
    collapse_gap: float = Field(default=0.2, gt=0, le=1)


SECTIONS: dict[str, type[Section]] = {
    "taxonomy": Taxonomy,
    "seed": SeedParams,
    "generate": GenerateParams,
    "filter": FilterParams,
    "dedup": DedupParams,
    "review": ReviewParams,
    "mix": MixParams,
    "evaluate": EvaluateParams,
}


def _describe(err: ValidationError, path: Path, section: str) -> str:
    lines = []
    for item in err.errors():
        key = ".".join([section, *(str(part) for part in item["loc"])])
        message = item["msg"].removeprefix("Value error, ")
        got = f" (got {item['input']!r})" if item["type"] not in ("missing", "value_error") else ""
        lines.append(f"{path}: {key}: {message}{got}")
    return "\n".join(lines)


def read_params_file(path: str | Path = DEFAULT_PARAMS_FILE) -> dict[str, Any]:
    """The raw params mapping; a missing file or bad YAML is a UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections at the top level")
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise UserError(f"{path}: unknown section(s) {unknown}; known: {sorted(SECTIONS)}")
    return raw


def load_section(path: str | Path, name: str, model: type[S]) -> S:
    """Validate one section. Stages load only the sections dvc.yaml lists for them, so a
    mistake in another stage's section never fails (or silently couples) this one."""
    raw = read_params_file(path)
    if name not in raw:
        raise UserError(f"{path}: {name}: section missing")
    try:
        return model.model_validate(raw[name] if raw[name] is not None else {})
    except ValidationError as err:
        raise UserError(_describe(err, Path(path), name)) from None


def load_all(path: str | Path = DEFAULT_PARAMS_FILE) -> dict[str, Section]:
    """Every section validated: for `python -m stages.common.params` and tests."""
    return {name: load_section(path, name, model) for name, model in SECTIONS.items()}


def section_hash(section: BaseModel) -> str:
    """Hash of one params section, recorded in provenance."""
    return sha256_hex(section.model_dump(mode="json"))[:16]


if __name__ == "__main__":
    from stages.common.errors import run_main

    run_main(lambda: print(f"{DEFAULT_PARAMS_FILE}: valid ({', '.join(load_all())})"))
