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


def preference_record(row: dict[str, Any], chosen: str, rejected: str) -> dict[str, Any]:
    """TRL's conversational preference format: prompt turns, then one chosen and one rejected reply."""
    prompt = [{"role": m["role"], "content": m["content"]} for m in row["messages"][:-1]]
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }
