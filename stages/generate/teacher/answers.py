"""Turn a teacher's answer into conversation turns, or into a reason to reject it.

Structured output is requested where the server supports it, but answers are always parsed
defensively: servers without it wrap JSON in prose or code fences, truncate it at max_tokens,
refuse, or answer with something else entirely. An answer that is almost JSON (a trailing comma,
a raw newline inside a string, a missing closing brace) is repaired with the `json-repair` library
before it is given up on, and the row's provenance says so (`json_repaired`). An answer cut off at
max_tokens is never repaired: it is rejected as truncated before parsing. Nothing here raises:
every answer ends up as turns or as a one-line reason (`code: detail`) that the rejected row
carries with the raw text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import json_repair

from stages.core.rows import turn_order_problem
from stages.core.text import tidy
from stages.generate.teacher.prompts import TemplateKind

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
RESPONSE_REASON_DETAIL_CHARS = 200


def response_problem(response: dict[str, Any]) -> str | None:
    """Why a completed response cannot be used whatever its text says, or None."""
    finish = response.get("finish_reason")
    if response.get("refusal"):
        return f"refusal: {_clip(response['refusal'])}"
    if finish == "length":
        return "truncated: finish_reason=length (raise generate.openai.max_tokens)"
    if finish == "content_filter":
        return "content_filter: the server filtered the answer"
    if not (response.get("content") or "").strip():
        return f"empty_answer: finish_reason={finish}"
    return None


@dataclass(frozen=True)
class Parsed:
    """A parsed answer: `turns` (None when unusable), the rejection `reason` (None when usable), and
    whether the JSON had to be repaired first."""

    turns: list[dict[str, str]] | None
    reason: str | None
    repaired: bool = False


def parse_answer(text: str, kind: TemplateKind) -> Parsed:
    """The answer's turns, or why it cannot be used.

    variation: the whole new conversation; reply: one assistant turn.
    """
    value, repaired = extract_json_object(text)
    if value is None:
        return Parsed(None, "unparseable: no JSON object in the answer, even after repair")
    turns, reason = _turns(value, kind)
    return Parsed(turns, reason, repaired)


def _turns(value: dict[str, Any], kind: TemplateKind) -> tuple[list[dict[str, str]] | None, str | None]:
    if kind == "reply":
        reply = value.get("reply")
        reply = tidy(reply) if isinstance(reply, str) else ""
        if not reply:
            return None, "invalid_answer: 'reply' must be a non-empty string"
        return [{"role": "assistant", "content": reply}], None
    messages = value.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        return None, "invalid_answer: 'messages' must be a list of at least two turns"
    turns = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return None, f"invalid_answer: messages.{index}.role must be 'user' or 'assistant'"
        content = message.get("content")
        content = tidy(content) if isinstance(content, str) else ""
        if not content:
            return None, f"invalid_answer: messages.{index}.content must be a non-empty string"
        turns.append({"role": message["role"], "content": content})
    problem = turn_order_problem([turn["role"] for turn in turns])
    if problem:
        return None, f"invalid_answer: messages: {problem}"
    return turns, None


def extract_json_object(text: str) -> tuple[dict[str, Any] | None, bool]:
    """(the JSON object in `text`, whether it was repaired): the whole text, a fenced block, or the
    outermost {...} span, parsed strictly; failing that, the first of them that json-repair turns
    into a non-empty object. (None, False) when there is none."""

    def candidates() -> Iterator[str]:  # lazily: the whole text is the usual case
        yield text
        yield from _FENCE.findall(text)
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            yield text[start : end + 1]

    for candidate in candidates():
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value, False
    if "{" not in text:
        return None, False  # prose without an object: nothing to repair
    for candidate in candidates():
        repaired = _repair(candidate[candidate.find("{") :] if "{" in candidate else candidate)
        if repaired:
            return repaired, True
    return None, False


def _repair(text: str) -> dict[str, Any] | None:
    try:
        value = json_repair.loads(text)
    except Exception:  # the library's contract is to never raise; a bug there must not stop the run
        return None
    return value if isinstance(value, dict) and value else None


def _clip(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= RESPONSE_REASON_DETAIL_CHARS else text[:RESPONSE_REASON_DETAIL_CHARS] + "..."
