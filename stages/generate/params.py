"""Params of the generate stage: the `generate` section of params.yaml, the only place its defaults live.

The defaults equal params.yaml's values (a test keeps them equal), so params.yaml shows every setting
the code reads. `builtin` holds the offline generator's settings and `openai` the teacher backend's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from stages.core.hashing import sha256_hex
from stages.core.params import Section
from stages.generate.variety import VarietyParams

BUILTIN_TEMPLATES = (
    "word_edits",
    "casual_short",
    "formal_verbose",
    "noisy_typing",
    "frustrated",
    "situational",
    "recombined",
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
        """ "model|template": what row assignment hashes on.

        Not temperature or weight, so tuning those two never moves rows between generators (and so
        never re-requests rows of the other generators).
        """
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
        default_factory=lambda: [
            TeacherGenerator(model="gpt-4o-mini", template="variation_rephrase", temperature=0.8, weight=2),
            TeacherGenerator(model="gpt-4o-mini", template="variation_persona", temperature=1.0, weight=1),
            TeacherGenerator(model="gpt-4.1-mini", template="variation_situation", temperature=0.9, weight=1),
        ],
        min_length=1,
    )
    # Preference pairs for seeds marked `pair: true`: two candidates from two different entries.
    pair_generators: list[TeacherGenerator] = Field(
        default_factory=lambda: [
            TeacherGenerator(model="gpt-4o-mini", template="reply_concise", temperature=0.7, weight=1),
            TeacherGenerator(model="gpt-4.1-mini", template="reply_thorough", temperature=0.7, weight=1),
        ]
    )
    # json_schema: OpenAI structured outputs; json_object: JSON mode; json_object_schema: llama.cpp's
    # {"type": "json_object", "schema": ...}; text: no response_format (answers are still parsed).
    response_format: TeacherResponseFormat = "json_schema"
    max_tokens: int = Field(default=800, ge=1, le=200_000)
    # Reasoning models (o-series, gpt-5) accept only max_completion_tokens.
    token_limit_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    concurrency: int = Field(default=16, ge=1, le=1024)
    rpm_limit: int | None = Field(default=500, ge=1)  # None: no requests-per-minute limit
    tpm_limit: int | None = Field(default=200_000, ge=1)  # None: no tokens-per-minute limit
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_base_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: {
            "gpt-4o-mini": ModelPrice(input_per_1m=0.15, output_per_1m=0.6),
            "gpt-4.1-mini": ModelPrice(input_per_1m=0.4, output_per_1m=1.6),
        }
    )
    max_cost_usd: float | None = Field(default=5.0, ge=0)  # hard cap on what one run spends; None: no cap

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


class BuiltinParams(Section):
    """The `builtin` backend: the offline rule-based generator (stages/generate/builtin/).

    `templates` are names from BUILTIN_TEMPLATES (each listed once); every (seed, variation) gets
    one by a seeded rotation (the next one when it cannot apply to the seed). `temperatures` (0 to 2)
    scale how much a template changes the text; each row takes one by its sampling seed. `lexicon`:
    the domain's word lists (a YAML file, added to the neutral default; null: the neutral default alone).
    """

    templates: list[str] = Field(default=list(BUILTIN_TEMPLATES), min_length=1)
    temperatures: list[float] = Field(default=[0.4, 0.8, 1.2], min_length=1)
    lexicon: str | None = "seeds/lexicon.yaml"

    @field_validator("templates")
    @classmethod
    def _known_templates(cls, templates: list[str]) -> list[str]:
        unknown = [name for name in templates if name not in BUILTIN_TEMPLATES]
        if unknown:
            raise ValueError(f"unknown builtin template(s) {unknown}; known: {list(BUILTIN_TEMPLATES)}")
        if len(set(templates)) != len(templates):
            raise ValueError("a template is listed twice")
        return templates

    @field_validator("temperatures")
    @classmethod
    def _temperatures_in_range(cls, temperatures: list[float]) -> list[float]:
        if any(not 0 <= t <= 2 for t in temperatures):
            raise ValueError(f"each must be between 0 and 2, got {temperatures}")
        return temperatures


# The openai settings that decide what the rows say; operational knobs (limits, retries, budget,
# endpoint, prices) are left out so that tuning them does not change every row's provenance.
OPENAI_CONTENT_PARAMS = ("generators", "pair_generators", "response_format", "max_tokens", "token_limit_field")
PARAMS_HASH_CHARS = 16


class GenerateParams(Section):
    """The `generate` section: which backend, the sampling seed, variations per seed, and each backend's settings.

    `variations_per_seed` rows are planned per training seed (0 to 1000); `seed` fixes every draw
    (template, temperature, generator, sampling seed), so the same params give the same rows.
    """

    backend: Literal["builtin", "openai"] = "builtin"
    seed: int = 20261124
    variations_per_seed: int = Field(default=4, ge=0, le=1000)
    builtin: BuiltinParams = Field(default_factory=BuiltinParams)
    openai: OpenAIParams = Field(default_factory=OpenAIParams)
    variety: VarietyParams = Field(default_factory=VarietyParams)

    def provenance_hash(self, backend: Literal["builtin", "openai"]) -> str:
        """The rows' `params_hash`: 16 hex chars of sha256 over the settings that decide what `backend`'s rows say.

        Hashed: backend, seed, variations_per_seed, plus for builtin its templates and temperatures,
        for openai OPENAI_CONTENT_PARAMS. The content is hashed, not its place in params.yaml, so the
        builtin hash is the one it was before the settings moved under `builtin:`.
        """
        content: dict[str, Any] = {
            "backend": backend,
            "seed": self.seed,
            "variations_per_seed": self.variations_per_seed,
        }
        if backend == "builtin":
            content.update(self.builtin.model_dump(mode="json"))
        else:
            content.update(self.openai.model_dump(mode="json", include=set(OPENAI_CONTENT_PARAMS)))
        return sha256_hex(content)[:PARAMS_HASH_CHARS]
