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

    `template` names a file prompts/<template>.md; `weight` is its share relative to the others;
    `context_tokens` is the model's context size in tokens (None: what the server reports, in
    /v1/models or in its "maximum context length is N tokens" error, else unchecked).
    """

    model: str = Field(min_length=1)
    template: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    temperature: float = Field(default=0.7, ge=0, le=2)
    weight: int = Field(default=1, ge=1, le=1000)
    context_tokens: int | None = Field(default=None, ge=256)

    @property
    def identity(self) -> str:
        """ "model|template": what row assignment hashes on.

        Not temperature or weight, so tuning those two never moves rows between generators (and so
        never re-requests rows of the other generators).
        """
        return f"{self.model}|{self.template}"


class ModelPrice(Section):
    """USD per million tokens, as on the provider's price page; `batch_*`: the Batch API's prices
    (None: this endpoint has no batch price, so `batch: true` is refused for the model)."""

    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)
    batch_input_per_1m: float | None = Field(default=None, ge=0)
    batch_output_per_1m: float | None = Field(default=None, ge=0)


FREE = ModelPrice(input_per_1m=0, output_per_1m=0, batch_input_per_1m=0, batch_output_per_1m=0)
OPENAI_BASE_URL = "https://api.openai.com/v1"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
TeacherResponseFormat = Literal["json_schema", "json_object_schema", "json_object", "text"]


def normalise_base_url(url: str) -> str:
    """The endpoint's identity: scheme and host lower-cased, default port, credentials, query and
    trailing slash dropped ("HTTP://Host:80/v1/" -> "http://host/v1"). Raises ValueError for a
    URL that is not http(s) with a host."""
    from urllib.parse import urlsplit  # local: only endpoint handling parses URLs

    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL such as http://127.0.0.1:8080/v1, got {url!r}")
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    port = parts.port
    default_port = {"http": 80, "https": 443}[scheme]
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != default_port:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def is_local(base_url: str) -> bool:
    """Whether the endpoint is on this machine (loopback): a local server, free unless priced."""
    from urllib.parse import urlsplit

    host = (urlsplit(base_url).hostname or "").lower()
    return host in LOCAL_HOSTS or host.startswith("127.")


class OpenAIParams(Section):
    """The `openai` backend: any OpenAI-compatible chat completions endpoint.

    The key is read only from the OPENAI_API_KEY environment variable, never from here. `prices`
    are per endpoint (normalised base URL) and model; a local endpoint without prices is free.
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
    # The first structured-output mode tried; a server that refuses it moves the endpoint and model
    # down json_schema -> json_object_schema (llama.cpp) -> json_object -> text (answers are parsed).
    response_format: TeacherResponseFormat = "json_schema"
    max_tokens: int = Field(default=800, ge=1, le=200_000)
    # Reasoning models (o-series, gpt-5) accept only max_completion_tokens.
    token_limit_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    prompt_bytes_per_token: float = Field(default=3.0, ge=1.0, le=8.0)
    min_answer_tokens: int = Field(default=200, ge=16)
    trial_seeds: int | None = Field(default=None, ge=1)
    trial_share: float | None = Field(default=None, gt=0, le=1)
    concurrency: int = Field(default=16, ge=1, le=1024)
    rpm_limit: int | None = Field(default=500, ge=1)  # None: no requests-per-minute limit
    tpm_limit: int | None = Field(default=200_000, ge=1)  # None: no tokens-per-minute limit
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_base_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    batch: bool = False
    batch_max_requests: int = Field(default=50_000, ge=1, le=50_000)
    batch_max_bytes: int = Field(default=200_000_000, ge=1_000, le=200_000_000)
    batch_poll_s: float = Field(default=10.0, gt=0)
    batch_poll_max_s: float = Field(default=300.0, gt=0)
    batch_retry_failed: Literal["batch", "direct"] = "batch"
    batch_max_rounds: int = Field(default=3, ge=1, le=20)
    prices: dict[str, dict[str, ModelPrice]] = Field(
        default_factory=lambda: {
            OPENAI_BASE_URL: {
                "gpt-4o-mini": ModelPrice(
                    input_per_1m=0.15, output_per_1m=0.6, batch_input_per_1m=0.075, batch_output_per_1m=0.3
                ),
                "gpt-4.1-mini": ModelPrice(
                    input_per_1m=0.4, output_per_1m=1.6, batch_input_per_1m=0.2, batch_output_per_1m=0.8
                ),
            }
        }
    )
    max_cost_usd: float | None = Field(default=5.0, ge=0)  # hard cap on what one run spends; None: no cap

    @model_validator(mode="before")
    @classmethod
    def _no_key_in_params(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(name in data for name in ("api_key", "key", "openai_api_key")):
            raise ValueError("never put the API key in params: set the OPENAI_API_KEY environment variable")
        return data

    @field_validator("prices", mode="before")
    @classmethod
    def _old_price_table(cls, prices: Any) -> Any:
        if isinstance(prices, dict) and any(isinstance(v, dict) and "input_per_1m" in v for v in prices.values()):
            raise ValueError(
                "prices are per endpoint, then model: {'https://api.openai.com/v1': {'gpt-4o-mini':"
                " {input_per_1m: ..., output_per_1m: ...}}}; a local endpoint without prices is free"
            )
        return prices

    @field_validator("prices")
    @classmethod
    def _prices_by_endpoint(cls, prices: dict[str, dict[str, ModelPrice]]) -> dict[str, dict[str, ModelPrice]]:
        normalised = {}
        for url, models in prices.items():
            try:
                normalised[normalise_base_url(url)] = models
            except ValueError as err:
                raise ValueError(f"keys are endpoints (base URLs) with prices per model: {err}") from None
        return normalised

    @model_validator(mode="after")
    def _consistent(self) -> OpenAIParams:
        if self.base_url is not None:
            from urllib.parse import urlsplit

            try:
                normalise_base_url(self.base_url)
            except ValueError as err:
                raise ValueError(f"base_url: {err}") from None
            parts = urlsplit(self.base_url)
            if parts.username or parts.password:
                raise ValueError("base_url: must not contain credentials; the key comes from OPENAI_API_KEY")
        for field in ("generators", "pair_generators"):
            entries: list[TeacherGenerator] = getattr(self, field)
            identities = [entry.identity for entry in entries]
            if len(set(identities)) != len(identities):
                raise ValueError(f"{field}: each (model, template) combination may be listed once")
        if len(self.pair_generators) == 1:
            raise ValueError("pair_generators: list at least two (the two candidates must differ) or none")
        if self.trial_seeds is not None and self.trial_share is not None:
            raise ValueError("trial_seeds and trial_share: set one of them (or neither)")
        return self

    def endpoint_url(self, environ: dict[str, str] | None = None) -> str:
        """The normalised base URL requests go to: params, else OPENAI_BASE_URL, else OpenAI's."""
        import os

        env = os.environ if environ is None else environ
        return normalise_base_url(self.base_url or env.get("OPENAI_BASE_URL") or OPENAI_BASE_URL)

    def price(self, endpoint: str, model: str) -> ModelPrice | None:
        """USD per million tokens for `model` at `endpoint` (normalised); FREE for an unpriced
        local endpoint; None when a remote endpoint has no price for it."""
        listed = self.prices.get(endpoint, {}).get(model)
        if listed is not None:
            return listed
        return FREE if is_local(endpoint) else None


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
OPENAI_CONTENT_PARAMS = (
    "generators",
    "pair_generators",
    "response_format",
    "max_tokens",
    "token_limit_field",
    "prompt_bytes_per_token",
    "min_answer_tokens",
)
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
