"""Structured output that negotiates, and what the run learns about an endpoint's models.

Servers differ in the `response_format` they accept: OpenAI takes `json_schema`; llama.cpp answers
it with HTTP 500 ("Input should be 'text' or 'json_object'") but takes `json_object` with a
`schema`; others take only plain `json_object`, or nothing. `LADDER` is the order tried: a request
refused with an error that names the response format moves that endpoint and model one step down
(`EndpointFacts.step_down`) and is sent again at once; the mode that worked is remembered, so the
next requests (and the next runs) go straight to it. Answers are parsed whatever the mode.

`EndpointFacts` is a small JSON file beside the cache shards (data/generate/cache/
endpoint_facts.json, so it travels with the cache through `dvc push`/`pull`), keyed by
"endpoint|model": the response format reached and the context size the server reported. It is
not in params: it is what the servers said, not what the user chose. It is rewritten (atomically)
only when something new was learned, so a fully cached run leaves it untouched.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import openai

from stages.core.jsonl import atomic_open
from stages.generate.params import TeacherResponseFormat
from stages.generate.teacher.prompts import ANSWER_SCHEMAS, TemplateKind

LADDER: tuple[TeacherResponseFormat, ...] = ("json_schema", "json_object_schema", "json_object", "text")
FACTS_FILE = "endpoint_facts.json"
# Words a server's error uses when it refuses the response format (OpenAI, vLLM, llama.cpp).
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "'text' or", "structured output")
_CONTEXT = re.compile(r"maximum context length is (\d+) tokens", re.IGNORECASE)
NOT_FORMAT_STATUSES = (401, 403, 404, 408, 409, 429)


def format_args(mode: str, kind: TemplateKind) -> dict[str, Any]:
    """The request arguments that ask for `mode` of structured output (none for `text`)."""
    schema = ANSWER_SCHEMAS[kind]
    if mode == "json_schema":
        return {
            "response_format": {"type": "json_schema", "json_schema": {"name": kind, "schema": schema, "strict": True}}
        }
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}
    if mode == "json_object_schema":
        # llama.cpp's extension (the body is sent as-is: transport.post_completion, batch lines).
        return {"response_format": {"type": "json_object", "schema": schema}}
    return {}


def error_text(err: BaseException) -> str:
    """The server's own message of an SDK status error (its JSON `error.message`), else str(err)."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str):
            return message
    return str(err)


def refuses_format(err: BaseException) -> bool:
    """Whether a failed request was refused for its response format: a 4xx (not auth, routing or
    rate limits) or 5xx whose message names the response format."""
    if not isinstance(err, openai.APIStatusError) or err.status_code in NOT_FORMAT_STATUSES:
        return False
    return refusal_names_format(err.status_code, error_text(err))


def refusal_names_format(status: int, message: str) -> bool:
    """The test behind `refuses_format`, for a status and message (the Batch API's error lines too)."""
    if status < 400 or status in NOT_FORMAT_STATUSES:
        return False
    text = message.lower()
    return any(word in text for word in _FORMAT_WORDS) and context_limit(message) is None


def context_limit(message: str) -> int | None:
    """N from a "maximum context length is N tokens" error (OpenAI, vLLM, llama.cpp), else None."""
    match = _CONTEXT.search(message)
    return int(match.group(1)) if match else None


class EndpointFacts:
    """What servers said about endpoint `endpoint`'s models, read from and saved to DIRECTORY/FACTS_FILE.

    `changed` counts what was learned this run (format step-downs, context sizes).
    """

    def __init__(self, directory: Path, endpoint: str) -> None:
        self.path = directory / FACTS_FILE
        self.endpoint = endpoint
        self.facts: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                self.facts = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                self.facts = {}  # a damaged file only costs a renegotiation
        self.changed = 0
        self.fallbacks = 0
        self.contexts_learned = 0

    def _entry(self, model: str) -> dict[str, Any]:
        return self.facts.setdefault(f"{self.endpoint}|{model}", {})

    def _known(self, model: str) -> dict[str, Any]:
        value = self.facts.get(f"{self.endpoint}|{model}")
        return value if isinstance(value, dict) else {}

    def mode(self, model: str, requested: str) -> str:
        """The mode to send: the remembered one when it is further down the ladder than `requested`."""
        remembered = self._known(model).get("response_format")
        if remembered in LADDER and LADDER.index(remembered) > LADDER.index(requested):
            return str(remembered)
        return requested

    def step_down(self, model: str, refused: str) -> str | None:
        """After the server refused `refused`: the next mode (remembered), or None past `text`.

        Workers refused at the same time step down once: a refusal of a mode already left behind
        just returns the current one.
        """
        index = LADDER.index(refused)
        current = self.mode(model, refused)
        if current != refused:
            return current
        if index + 1 >= len(LADDER):
            return None
        self._entry(model)["response_format"] = LADDER[index + 1]
        self.changed += 1
        self.fallbacks += 1
        return LADDER[index + 1]

    def reached(self, model: str, mode: str) -> None:
        """Remember that `mode` worked (so it is recorded even when it was the first one tried)."""
        entry = self._entry(model)
        if entry.get("response_format") != mode and self.mode(model, mode) == mode:
            entry["response_format"] = mode
            self.changed += 1

    def context(self, model: str) -> int | None:
        """The context size (tokens) a server reported for `model`, or None."""
        value = self._known(model).get("context_tokens")
        return int(value) if isinstance(value, int) and value > 0 else None

    def learn_context(self, model: str, tokens: int) -> bool:
        """Record a reported context size; True if it is new."""
        if self.context(model) == tokens:
            return False
        self._entry(model)["context_tokens"] = tokens
        self.changed += 1
        self.contexts_learned += 1
        return True

    def save(self) -> None:
        """Write the file (atomically) if anything was learned this run."""
        if not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.path) as handle:
            handle.write(json.dumps(self.facts, indent=2, sort_keys=True) + "\n")
        self.changed = 0
