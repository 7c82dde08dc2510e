"""Which requests the teacher backend makes: one per (seed, variation) and two per pair seed.

Assignment of a row to a generator is weighted rendezvous hashing on (params seed, seed id, slot,
generator identity): each generator draws a score for the row and the best score wins, with weights
scaling the draw. The result is deterministic, follows the weights across seeds, and is stable
under params edits: adding a generator moves only the rows it wins, removing one moves only its
rows, and changing a temperature or weight re-requests only that generator's rows. A pair seed
takes the two best-scoring pair generators, so its two candidates always differ in model or template.

The request key hashes everything that determines the request (model, messages, temperature,
sampling seed, token limit, response format, template hash); it is the cache key.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from stages.core.hashing import canonical_json, sha256_hex
from stages.generate.params import GenerateParams, OpenAIParams, TeacherGenerator
from stages.generate.teacher.prompts import ANSWER_SCHEMAS, PromptTemplate, TemplateKind, prompt_values

SAMPLING_SEED_RANGE = 2**31  # servers differ in the seed integers they accept; this range they all do
MESSAGE_TOKEN_OVERHEAD = 8  # chat formatting tokens per message, generously
REQUEST_KEY_CHARS = 32


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3x, and there are 10k+ of these
class TeacherRequest:
    """One planned chat completion request: its cache `key` (REQUEST_KEY_CHARS hex), the seed row and
    slot it serves, the generator and template, the sampling seed, the request `body` and the UTF-8
    size of its prompt (`prompt_bytes`), from which the token bounds below are estimated."""

    key: str
    kind: TemplateKind
    seed: dict[str, Any]
    slot: int  # variation number, or candidate number (0, 1) of a pair
    generator: TeacherGenerator
    template: PromptTemplate
    sampling_seed: int
    body: dict[str, Any]  # keyword arguments of chat.completions.create
    prompt_bytes: int

    @property
    def max_prompt_tokens(self) -> int:
        """An upper bound on prompt tokens: a BPE token covers at least one byte."""
        return self.prompt_bytes + MESSAGE_TOKEN_OVERHEAD * len(self.body["messages"])

    @property
    def approx_tokens(self) -> int:
        """What rate limiters count: about 4 bytes per prompt token, plus the completion limit."""
        return self.prompt_bytes // 4 + self.max_completion_tokens

    @property
    def max_completion_tokens(self) -> int:
        """The request's token limit (params `max_tokens`, sent as `token_limit_field`)."""
        return int(self.body.get("max_tokens") or self.body.get("max_completion_tokens") or 0)


def plan_requests(
    seeds: list[dict[str, Any]], params: GenerateParams, templates: dict[str, PromptTemplate], policy: str
) -> tuple[list[TeacherRequest], list[tuple[TeacherRequest, TeacherRequest]]]:
    """(variation requests, pair requests) in seed order: `variations_per_seed` variations per seed,
    and for each seed with meta `pair: true` one request to each of its two pair generators.
    `templates` are the loaded prompt templates by id; `policy` is the policy text the prompts quote."""
    planner = _Planner(params.openai, templates, policy)
    variations: list[TeacherRequest] = []
    pairs: list[tuple[TeacherRequest, TeacherRequest]] = []
    generators, pair_generators = params.openai.generators, params.openai.pair_generators
    for seed in seeds:
        for variation in range(params.variations_per_seed):
            generator = pick_generators(generators, params.seed, seed["id"], f"variation-{variation}", 1)[0]
            sampling_seed = _draw(params.seed, seed["id"], "sampling", variation) % SAMPLING_SEED_RANGE
            variations.append(planner.request(seed, variation, generator, sampling_seed))
        if seed.get("meta", {}).get("pair") and pair_generators:
            first, second = pick_generators(pair_generators, params.seed, seed["id"], "pair", 2)
            candidates = [
                planner.request(
                    seed, rank, generator, _draw(params.seed, seed["id"], "pair", rank) % SAMPLING_SEED_RANGE
                )
                for rank, generator in enumerate((first, second))
            ]
            pairs.append((candidates[0], candidates[1]))
    return variations, pairs


def pick_generators(
    generators: list[TeacherGenerator], params_seed: int, seed_id: str, slot: str, count: int
) -> list[TeacherGenerator]:
    """The `count` best generators for one row by weighted rendezvous score (lowest wins)."""

    def score(generator: TeacherGenerator) -> tuple[float, str]:
        draw = _draw(params_seed, seed_id, slot, generator.identity) / 2**64
        return -math.log1p(-draw) / generator.weight, generator.identity

    if count == 1:
        return [min(generators, key=score)]
    return sorted(generators, key=score)[:count]


def _draw(*parts: object) -> int:
    """A 64-bit integer fixed by `parts` (sha256 of their text): seeded, order-free, cheap."""
    text = "\x1f".join(map(str, parts))
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def response_format_args(settings: OpenAIParams, kind: TemplateKind) -> dict[str, Any]:
    """The request arguments that ask for structured output, per params `response_format`."""
    schema = ANSWER_SCHEMAS[kind]
    if settings.response_format == "json_schema":
        return {
            "response_format": {"type": "json_schema", "json_schema": {"name": kind, "schema": schema, "strict": True}}
        }
    if settings.response_format == "json_object":
        return {"response_format": {"type": "json_object"}}
    if settings.response_format == "json_object_schema":
        # llama.cpp's extension; sent as extra_body because the SDK's type has no `schema` key.
        return {"extra_body": {"response_format": {"type": "json_object", "schema": schema}}}
    return {}


class _Planner:
    """Builds requests, computing each expensive piece once: the system prompt (with the policy) and
    its hash per template, the prompt messages per (template, seed), the fixed request arguments
    per generator. Variations of one seed differ only in their sampling seed."""

    def __init__(self, settings: OpenAIParams, templates: dict[str, PromptTemplate], policy: str) -> None:
        self.settings = settings
        self.templates = templates
        self.policy = policy
        self.fixed: dict[TeacherGenerator, tuple[dict[str, Any], str]] = {}
        self.prompts: dict[tuple[str, str], tuple[list[dict[str, str]], str, int]] = {}
        self.system_facts: dict[str, tuple[str, int]] = {}  # system text -> (hash, bytes)
        self.values: dict[tuple[str, str], dict[str, str]] = {}  # (kind, seed id) -> placeholder values

    def request(
        self, seed: dict[str, Any], slot: int, generator: TeacherGenerator, sampling_seed: int
    ) -> TeacherRequest:
        """The request of one (seed, slot) for `generator`, with its key."""
        template = self.templates[generator.template]
        fixed_args, fixed_hash = self._fixed(generator, template)
        messages, messages_hash, prompt_bytes = self._prompt(template, seed)
        # The key covers every request argument: the fixed ones (model, temperature, token limit,
        # response format) and the template hash via fixed_hash, then the sampling seed and messages.
        key = sha256_hex(f"{fixed_hash}|{sampling_seed}|{messages_hash}")[:REQUEST_KEY_CHARS]
        return TeacherRequest(
            key=key,
            kind=template.kind,
            seed=seed,
            slot=slot,
            generator=generator,
            template=template,
            sampling_seed=sampling_seed,
            body={"model": generator.model, "messages": messages, "seed": sampling_seed, **fixed_args},
            prompt_bytes=prompt_bytes,
        )

    def _fixed(self, generator: TeacherGenerator, template: PromptTemplate) -> tuple[dict[str, Any], str]:
        fixed = self.fixed.get(generator)
        if fixed is None:
            args = {
                "temperature": generator.temperature,
                self.settings.token_limit_field: self.settings.max_tokens,
                **response_format_args(self.settings, template.kind),
            }
            material = {"model": generator.model, **args, "template_hash": template.content_hash}
            fixed = self.fixed[generator] = (args, sha256_hex(canonical_json(material)))
        return fixed

    def _prompt(self, template: PromptTemplate, seed: dict[str, Any]) -> tuple[list[dict[str, str]], str, int]:
        memo_key = (template.template_id, seed["id"])
        prompt = self.prompts.get(memo_key)
        if prompt is None:
            values_key = (template.kind, seed["id"])
            values = self.values.get(values_key)
            if values is None:
                values = self.values[values_key] = prompt_values(seed, template.kind, self.policy)
            messages = template.render(values)
            system = messages[0]["content"]
            facts = self.system_facts.get(system)
            if facts is None:
                facts = self.system_facts[system] = (sha256_hex(system), len(system.encode("utf-8")))
            hashes = [facts[0], *(sha256_hex(m["content"]) for m in messages[1:])]
            turns = "\x1f".join(f"{m['role']}:{content_hash}" for m, content_hash in zip(messages, hashes, strict=True))
            prompt_bytes = facts[1] + sum(len(m["content"].encode("utf-8")) for m in messages[1:])
            prompt = self.prompts[memo_key] = (messages, sha256_hex(turns), prompt_bytes)
        return prompt
