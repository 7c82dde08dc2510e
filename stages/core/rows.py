"""The one row schema every stage reads and writes.

A row is a plain dict (fast to stream) that validates against `Row`:

    id          stable content hash (see `row_id`)
    messages    OpenAI chat format: optional system turn, then user/assistant turns, last = assistant
    intent      intent name, one of params `taxonomy`
    slice       product slice (critical ones are listed in params `taxonomy.critical`)
    source      "human" or "synthetic"
    origin      human: "case" | "failure" | "eval"; synthetic: "variation" | "pair_candidate"
    case_id     the expert's case id this row is (human) or derives from (synthetic)
    seed_id     lineage: id of the human seed row it derives from (its own id for human rows)
    provenance  null for human rows; for synthetic rows the `Provenance` record
    meta        free-form facts from the seed files (policy_refs, author, failure_mode...)

Stages add annotations and never drop the rest: `reasons` (why a row was rejected), `duplicate_of`,
`review` (the human verdict), `split` (mix).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stages.core.hashing import sha256_hex
from stages.core.text import has_visible

ROW_ID_CHARS = 20


class Message(BaseModel):
    """One chat turn: a role and content that shows something (not only spaces or invisible characters)."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)

    @field_validator("content")
    @classmethod
    def _visible(cls, value: str) -> str:
        if not has_visible(value):
            raise ValueError("empty once spaces and invisible characters are removed")
        return value


class Provenance(BaseModel):
    """Where a synthetic row came from: enough to rebuild it, or to roll it back by rule."""

    model_config = ConfigDict(extra="forbid")
    generator: str
    generator_version: str
    model: str
    model_version: str | None = None
    template_id: str
    template_hash: str
    temperature: float
    sampling_seed: int
    seed_ids: list[str] = Field(min_length=1)
    params_hash: str
    request_key: str | None = None
    system_fingerprint: str | None = None
    created_at: str | None = None
    # Teacher rows: the endpoint (normalised base URL, never credentials) that answered, the
    # structured-output mode that produced the answer, whether its JSON was repaired, and the Batch
    # API batch it came from (None: a direct request).
    endpoint: str | None = None
    response_format: str | None = None
    json_repaired: bool | None = None
    batch_id: str | None = None
    human_edited: bool = False


class Row(BaseModel):
    """The row schema (see the module docstring); extra annotation fields are allowed."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=ROW_ID_CHARS, max_length=ROW_ID_CHARS)
    messages: list[Message] = Field(min_length=2)
    intent: str = Field(min_length=1)
    slice: str = Field(min_length=1)
    source: Literal["human", "synthetic"]
    origin: str
    case_id: str
    seed_id: str
    provenance: Provenance | None
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_turns_and_provenance(self) -> Row:
        problem = turn_order_problem([m.role for m in self.messages])
        if problem:
            raise ValueError(f"messages: {problem}")
        if (self.source == "synthetic") != (self.provenance is not None):
            raise ValueError("synthetic rows need a provenance record and human rows must not have one")
        return self


def turn_order_problem(roles: list[str]) -> str | None:
    """Why a role sequence (the `messages` field) is not a trainable exchange, or None if it is."""
    turns = roles[1:] if roles and roles[0] == "system" else roles
    if len(turns) < 2:
        return "needs at least one user turn and one assistant turn"
    for index, role in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if role != expected:
            return f"turn {index + 1} should be '{expected}', got '{role}'"
    if turns[-1] != "assistant":
        return "the last turn must be the assistant's"
    return None


def reason_code(reason: str) -> str:
    """The code of a rejection reason: reasons on rows read 'code: detail'."""
    return reason.split(":", 1)[0]


def schema_problem(row: dict[str, Any]) -> str | None:
    """A one-line description of why `row` breaks the schema, or None."""
    try:
        Row.model_validate(row)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "row"
        return f"{where}: {first['msg']}"
    return None


def row_id(row: dict[str, Any]) -> str:
    """Content hash of what makes the row this row.

    Covers the text, labels, source and lineage, plus for synthetic rows the generator, model,
    template and sampling seed; not the params hash or timestamps, so unrelated param changes
    (say, more variations per seed) leave existing rows, and the reviews keyed on them, in place.
    """
    provenance = row.get("provenance") or {}
    key = {
        "messages": row["messages"],
        "intent": row["intent"],
        "slice": row["slice"],
        "source": row["source"],
        "seed_id": row.get("seed_id"),
        "generator": provenance.get("generator"),
        "model": provenance.get("model"),
        "template_id": provenance.get("template_id"),
        "sampling_seed": provenance.get("sampling_seed"),
    }
    return sha256_hex(key)[:ROW_ID_CHARS]


def turns_text(row: dict[str, Any], role: str) -> str:
    """All turns of one role joined by newlines."""
    return "\n".join(m["content"] for m in row["messages"] if m["role"] == role)


def user_text(row: dict[str, Any]) -> str:
    """All user turns joined by newlines."""
    return turns_text(row, "user")


def assistant_text(row: dict[str, Any]) -> str:
    """All assistant turns joined by newlines."""
    return turns_text(row, "assistant")


def conversation_text(row: dict[str, Any]) -> str:
    """Every user and assistant turn (no system turn) joined by newlines."""
    return "\n".join(m["content"] for m in row["messages"] if m["role"] != "system")
