"""Which requests the teacher backend makes: one per (seed, variation) and two per pair seed.

Assignment of a row to a generator is weighted rendezvous hashing on (params seed, seed id, slot,
generator identity): each generator draws a score for the row and the best score wins, with weights
scaling the draw. The result is deterministic, follows the weights across seeds, and is stable
under params edits: adding a generator moves only the rows it wins, removing one moves only its
rows, and changing a temperature or weight re-requests only that generator's rows. A pair seed
takes the two best-scoring pair generators, so its two candidates always differ in model or template.

Each prompt quotes the policy rules its seed names (policy.PolicyIndex) and is made to fit the
generator's context (params `context_tokens`, else what the server reported: formats.EndpointFacts):
the first excerpt level that fits with `max_tokens` for the answer, else the smallest excerpt with
the answer limit lowered (not below `min_answer_tokens`); a seed that still cannot fit is planned
as `unfit`, never sent, and rejected with that reason. Tokens are estimated from UTF-8 bytes
(`prompt_bytes_per_token`, a deliberately low figure, so estimates err long).

The request key hashes everything that determines the request (endpoint, model, messages,
temperature, sampling seed, token limit, the response format asked first, template hash); it is
the cache key, so a cache written by one server never answers for another.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from stages.core.hashing import canonical_json, sha256_hex
from stages.generate.params import GenerateParams, OpenAIParams, TeacherGenerator
from stages.generate.teacher.formats import EndpointFacts, format_args
from stages.generate.teacher.policy import LEVELS, PolicyIndex
from stages.generate.teacher.prompts import PromptTemplate, TemplateKind, prompt_values

SAMPLING_SEED_RANGE = 2**31  # servers differ in the seed integers they accept; this range they all do
MESSAGE_TOKEN_OVERHEAD = 8  # chat formatting tokens per message, generously
REQUEST_KEY_CHARS = 32


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3x, and there are 10k+ of these
class TeacherRequest:
    """One planned chat completion request: its cache `key` (REQUEST_KEY_CHARS hex), the seed row and
    slot it serves, the generator and template, the sampling seed, the request `body` without its
    response format (`body_for` adds one), the UTF-8 size of its prompt (`prompt_bytes`),
    `prompt_tokens` as estimated for the context check, and `unfit`: why it is not sent (the
    prompt cannot fit the model's context), or None."""

    key: str
    kind: TemplateKind
    seed: dict[str, Any]
    slot: int  # variation number, or candidate number (0, 1) of a pair
    generator: TeacherGenerator
    template: PromptTemplate
    sampling_seed: int
    body: dict[str, Any]  # keyword arguments of chat.completions.create
    prompt_bytes: int
    prompt_tokens: int = 0
    unfit: str | None = None

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

    def body_for(self, mode: str) -> dict[str, Any]:
        """The request body with `mode` of structured output (formats.LADDER)."""
        return {**self.body, **format_args(mode, self.kind)}


def plan_requests(
    seeds: list[dict[str, Any]],
    params: GenerateParams,
    templates: dict[str, PromptTemplate],
    policy: PolicyIndex,
    endpoint: str,
    facts: EndpointFacts | None = None,
) -> tuple[list[TeacherRequest], list[tuple[TeacherRequest, TeacherRequest]]]:
    """(variation requests, pair requests) in seed order: `variations_per_seed` variations per seed,
    and for each seed with meta `pair: true` one request to each of its two pair generators.
    `templates` are the loaded prompt templates by id; `policy` the policy the prompts quote;
    `endpoint` the normalised base URL (part of every key); `facts` the context sizes servers reported."""
    planner = _Planner(params.openai, templates, policy, endpoint, facts)
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


class _Planner:
    """Builds requests, computing each expensive piece once: the rendered prompt and its hash per
    (template, seed, excerpt level), the fixed request arguments per generator. Variations of one
    seed differ only in their sampling seed."""

    def __init__(
        self,
        settings: OpenAIParams,
        templates: dict[str, PromptTemplate],
        policy: PolicyIndex,
        endpoint: str,
        facts: EndpointFacts | None,
    ) -> None:
        self.settings = settings
        self.templates = templates
        self.policy = policy
        self.endpoint = endpoint
        self.facts = facts
        self.fixed: dict[TeacherGenerator, str] = {}
        self.prompts: dict[tuple[str, str, str], tuple[list[dict[str, str]], str, int]] = {}
        self.hashes: dict[str, tuple[str, int]] = {}  # message text -> (hash, bytes)
        self.fits: dict[tuple[TeacherGenerator, str], tuple[str, int, str | None]] = {}

    def request(
        self, seed: dict[str, Any], slot: int, generator: TeacherGenerator, sampling_seed: int
    ) -> TeacherRequest:
        """The request of one (seed, slot) for `generator`, with its key."""
        template = self.templates[generator.template]
        level, max_tokens, unfit = self._fit(generator, template, seed)
        messages, messages_hash, prompt_bytes = self._prompt(template, seed, level)
        # The key covers every request argument: the fixed ones (endpoint, model, temperature,
        # response format asked first, template hash), the token limit, the sampling seed and messages.
        key = sha256_hex(f"{self._fixed(generator, template)}|{max_tokens}|{sampling_seed}|{messages_hash}")
        body = {
            "model": generator.model,
            "messages": messages,
            "seed": sampling_seed,
            "temperature": generator.temperature,
            self.settings.token_limit_field: max_tokens,
        }
        return TeacherRequest(
            key=key[:REQUEST_KEY_CHARS],
            kind=template.kind,
            seed=seed,
            slot=slot,
            generator=generator,
            template=template,
            sampling_seed=sampling_seed,
            body=body,
            prompt_bytes=prompt_bytes,
            prompt_tokens=self._tokens(prompt_bytes),
            unfit=unfit,
        )

    def _fixed(self, generator: TeacherGenerator, template: PromptTemplate) -> str:
        fixed = self.fixed.get(generator)
        if fixed is None:
            material = {
                "endpoint": self.endpoint,
                "model": generator.model,
                "temperature": generator.temperature,
                "token_limit_field": self.settings.token_limit_field,
                "response_format": self.settings.response_format,
                "template_hash": template.content_hash,
            }
            fixed = self.fixed[generator] = sha256_hex(canonical_json(material))
        return fixed

    def _tokens(self, prompt_bytes: int) -> int:
        return math.ceil(prompt_bytes / self.settings.prompt_bytes_per_token) + 2 * MESSAGE_TOKEN_OVERHEAD

    def _fit(
        self, generator: TeacherGenerator, template: PromptTemplate, seed: dict[str, Any]
    ) -> tuple[str, int, str | None]:
        """(excerpt level, answer token limit, unfit reason or None) for one seed and generator."""
        memo_key = (generator, seed["id"])
        fit = self.fits.get(memo_key)
        if fit is not None:
            return fit
        settings = self.settings
        context = generator.context_tokens or (self.facts.context(generator.model) if self.facts else None)
        fit = (LEVELS[0], settings.max_tokens, None)
        if context is not None:
            fit = self._shrink(generator, template, seed, context)
        self.fits[memo_key] = fit
        return fit

    def _shrink(
        self, generator: TeacherGenerator, template: PromptTemplate, seed: dict[str, Any], context: int
    ) -> tuple[str, int, str | None]:
        settings = self.settings
        tokens = 0
        for level in LEVELS:
            tokens = self._tokens(self._prompt(template, seed, level)[2])
            if tokens + settings.max_tokens <= context:
                return level, settings.max_tokens, None
        room = context - tokens
        floor = min(settings.min_answer_tokens, settings.max_tokens)
        if room >= floor:
            return LEVELS[-1], room, None
        reason = (
            f"context_exceeded: the prompt needs ~{tokens} tokens even quoting only the named policy rules,"
            f" plus {floor} for the answer (min_answer_tokens), over the {context}-token context of"
            f" {generator.model}"
        )
        return LEVELS[-1], settings.max_tokens, reason

    def _prompt(
        self, template: PromptTemplate, seed: dict[str, Any], level: str
    ) -> tuple[list[dict[str, str]], str, int]:
        memo_key = (template.template_id, seed["id"], level)
        prompt = self.prompts.get(memo_key)
        if prompt is None:
            refs = seed.get("meta", {}).get("policy_refs") or []
            values = prompt_values(seed, template.kind, self.policy.quote(refs, level))
            messages = template.render(values)
            facts = [self._hash(m["content"]) for m in messages]
            turns = "\x1f".join(f"{m['role']}:{fact[0]}" for m, fact in zip(messages, facts, strict=True))
            prompt = self.prompts[memo_key] = (messages, sha256_hex(turns), sum(fact[1] for fact in facts))
        return prompt

    def _hash(self, text: str) -> tuple[str, int]:
        facts = self.hashes.get(text)
        if facts is None:
            facts = (sha256_hex(text), len(text.encode("utf-8")))
            if len(self.hashes) < 100_000:  # system parts repeat; user parts mostly do not
                self.hashes[text] = facts
        return facts
