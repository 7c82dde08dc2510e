"""Output formats for training: OpenAI chat fine-tuning lines and TRL preference pairs."""

from __future__ import annotations

from typing import Any

CHAT_ROLES = ("system", "user", "assistant")


def chat_record(row: dict[str, Any], system_prompt: str) -> dict[str, Any]:
    """A line of OpenAI's chat fine-tuning format: the system prompt, then the row's turns."""
    messages = [{"role": "system", "content": system_prompt}]
    messages += [{"role": m["role"], "content": m["content"]} for m in row["messages"] if m["role"] != "system"]
    return {"messages": messages}


def chat_record_problem(record: dict[str, Any]) -> str | None:
    """Why OpenAI's fine-tuning upload would refuse this line (its published format rules), or None."""
    if set(record) != {"messages"}:
        return f"unexpected keys {sorted(set(record) - {'messages'})}"
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) - {"role", "content", "name", "weight"}:
            return f"message {index}: only role, content, name and weight are allowed"
        if message.get("role") not in CHAT_ROLES:
            return f"message {index}: role must be one of {CHAT_ROLES}"
        if not isinstance(message.get("content"), str) or not message["content"].strip():
            return f"message {index}: content must be a non-empty string"
    if not any(m["role"] == "assistant" for m in messages):
        return "no assistant message to learn from"
    return None


def preference_record(row: dict[str, Any], chosen: str, rejected: str, system_prompt: str) -> dict[str, Any]:
    """TRL's conversational preference format: `prompt` the row's fine-tuning line (`chat_record`: the
    system prompt, then its turns) up to its last reply, so a model tuned on train.jsonl sees the same
    prompt here; `chosen` and `rejected` one assistant message each."""
    return {
        "prompt": chat_record(row, system_prompt)["messages"][:-1],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


def preference_record_problem(record: dict[str, Any]) -> str | None:
    """Why a preference record is not the train.jsonl format split at its last reply (prompt, then the
    chosen or the rejected reply, each a valid `chat_record_problem` line opening with the system turn), or None."""
    if set(record) != {"prompt", "chosen", "rejected"}:
        return f"keys must be prompt, chosen and rejected, got {sorted(record)}"
    if not record["prompt"] or record["prompt"][0].get("role") != "system":
        return "the prompt must open with the system turn, as every train.jsonl line does"
    if record["prompt"][-1].get("role") != "user":
        return "the prompt must end with a user turn"
    for side in ("chosen", "rejected"):
        reply = record[side]
        if not isinstance(reply, list) or [m.get("role") for m in reply] != ["assistant"]:
            return f"{side} must be one assistant message"
        problem = chat_record_problem({"messages": record["prompt"] + reply})
        if problem:
            return f"prompt + {side}: {problem}"
    return None
