"""Prompt templates of the teacher backend: versioned files in prompts/, hashed into provenance.

A template file is a short YAML header, then a system part and a user part:

    ---
    kind: variation          # variation: a new conversation; reply: the next assistant turn (pairs)
    description: ...
    ---
    === system ===
    ... {{policy}} ...
    === user ===
    ... {{conversation}} ... {{output_format}}

Placeholders are `{{name}}` (see PLACEHOLDERS); `{{policy}}` is the excerpt of the policy that the
seed's `policy_refs` name (policy.PolicyIndex), not the whole document, so prompts fit small
models' contexts. They are filled in one pass, so text inserted from the policy or a seed is never
expanded again. The domain's placeholders (`{{assistant}}`, `{{product}}`, `{{rules}}`:
core.domain.PROMPT_PLACEHOLDERS) are filled from seeds/domain.yaml when the template is loaded, so no
template names a product. The template id is the file stem and its hash covers the whole file and
the domain values it uses, so editing either re-requests exactly the rows made with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from stages.core.domain import PROMPT_PLACEHOLDERS
from stages.core.errors import UserError
from stages.core.files import read_text
from stages.core.hashing import canonical_json, sha256_hex
from stages.generate.params import OpenAIParams

TemplateKind = Literal["variation", "reply"]
TEMPLATE_SUFFIX = ".md"
PLACEHOLDERS = frozenset({"policy", "conversation", "intent", "slice", "policy_refs", "output_format"})
DOMAIN_PLACEHOLDERS = frozenset(PROMPT_PLACEHOLDERS)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
_SECTION = re.compile(r"^=== (system|user) ===[ \t]*$", re.MULTILINE)
_TURN_JSON = json.JSONEncoder(ensure_ascii=False)  # one encoder: json.dumps with options builds one per call

# What the teacher must answer, per kind: the JSON schema (for response_format) and the same shape
# spelled out in the prompt (for servers without structured output, and for the model's benefit).
ANSWER_SCHEMAS: dict[TemplateKind, dict[str, Any]] = {
    "variation": {
        "type": "object",
        "properties": {
            "messages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "role": {"type": "string", "enum": ["user", "assistant"]},
                        "content": {"type": "string"},
                    },
                    "required": ["role", "content"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["messages"],
        "additionalProperties": False,
    },
    "reply": {
        "type": "object",
        "properties": {"reply": {"type": "string"}},
        "required": ["reply"],
        "additionalProperties": False,
    },
}
OUTPUT_FORMATS: dict[TemplateKind, str] = {
    "variation": (
        "Answer with one JSON object and nothing else, in this shape: "
        '{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]} '
        "with the turns in order, starting with the customer (user) and ending with the assistant."
    ),
    "reply": 'Answer with one JSON object and nothing else, in this shape: {"reply": "..."}',
}


@dataclass(frozen=True)
class PromptTemplate:
    """One prompts/<template_id>.md file: its kind, the sha256 of the file (16 hex, `content_hash`),
    and its system and user parts with `{{placeholder}}`s unfilled."""

    template_id: str
    kind: TemplateKind
    content_hash: str
    system: str
    user: str
    # Rendered system parts by the values they use: seeds that name the same policy rules share one
    # string, rendered and hashed once.
    _memo: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict, repr=False, compare=False)

    def render(self, values: dict[str, str]) -> list[dict[str, str]]:
        """The chat messages of one request: system turn, then user turn."""
        return [
            {"role": "system", "content": self._render_part("system", self.system, values)},
            {"role": "user", "content": self._render_part("user", self.user, values)},
        ]

    def _render_part(self, name: str, text: str, values: dict[str, str]) -> str:
        used = tuple(values[key] for key in _PLACEHOLDER.findall(text))
        memo_key = (name, used)
        rendered = self._memo.get(memo_key)
        if rendered is None:
            rendered = _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
            if name == "system":  # per-seed user parts are not worth keeping
                self._memo[memo_key] = rendered
        return rendered


def load_template(path: Path, domain: dict[str, str] | None = None) -> PromptTemplate:
    """Parse one template file, its domain placeholders filled from `domain` (Domain.prompt_values);
    a malformed file, or domain placeholders without `domain`, is a UserError naming it."""
    text = read_text(path, "prompt template")  # UTF-8, or an error naming the line
    header, body = _split_header(path, text)
    kind = header.get("kind")
    if kind not in ANSWER_SCHEMAS:
        raise UserError(f"{path}: header 'kind' must be one of {sorted(ANSWER_SCHEMAS)}, got {kind!r}")
    parts = _SECTION.split(body)
    # split() with one group gives ['preamble', 'system', text, 'user', text]
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    if list(sections) != ["system", "user"] or parts[0].strip():
        raise UserError(f"{path}: expected '=== system ===' then '=== user ===' after the header")
    used = {name for part in sections.values() for name in _PLACEHOLDER.findall(part)}
    unknown = sorted(used - PLACEHOLDERS - DOMAIN_PLACEHOLDERS)
    if unknown:
        known = sorted(PLACEHOLDERS | DOMAIN_PLACEHOLDERS)
        raise UserError(f"{path}: unknown placeholder(s) {unknown}; known: {known}")
    hashed = text
    if used & DOMAIN_PLACEHOLDERS:
        if domain is None:
            raise UserError(f"{path}: uses {sorted(used & DOMAIN_PLACEHOLDERS)} from the domain file, none given")
        values = {name: domain[name] for name in sorted(used & DOMAIN_PLACEHOLDERS)}
        sections = {name: _fill(part, values) for name, part in sections.items()}
        hashed = text + canonical_json(values)
    return PromptTemplate(
        template_id=path.name.removesuffix(TEMPLATE_SUFFIX),
        kind=kind,
        content_hash=sha256_hex(hashed.encode("utf-8"))[:16],
        system=sections["system"].strip("\n"),
        user=sections["user"].strip("\n"),
    )


def _fill(text: str, values: dict[str, str]) -> str:
    """`text` with the placeholders named in `values` filled (others left for rendering)."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def _split_header(path: Path, text: str) -> tuple[dict[str, Any], str]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        raise UserError(f"{path}: a template starts with a '---' header block (kind: variation|reply)")
    end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    try:
        header = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{path}: header is not valid YAML: {err}") from None
    if not isinstance(header, dict):
        raise UserError(f"{path}: header must be a mapping (kind: variation|reply)")
    return header, "\n".join(lines[end + 1 :])


def template_problems(
    params: OpenAIParams, prompts_dir: Path, params_path: Path, domain: dict[str, str] | None = None
) -> tuple[dict[str, PromptTemplate], list[str]]:
    """(the templates params name that are there, parse and are of the right kind for their list; every
    problem, each naming the params key or the template file): what `load_templates` reads, for
    `python -m stages.validate`. `domain` fills their domain placeholders (see load_template)."""
    available = sorted(p.name.removesuffix(TEMPLATE_SUFFIX) for p in prompts_dir.glob(f"*{TEMPLATE_SUFFIX}"))
    loaded: dict[str, PromptTemplate | None] = {}  # None: the file has a problem, listed once
    templates: dict[str, PromptTemplate] = {}
    problems: list[str] = []
    expected_kinds: list[tuple[str, list[Any], TemplateKind]] = [
        ("generators", list(params.generators), "variation"),
        ("pair_generators", list(params.pair_generators), "reply"),
    ]
    for list_name, entries, kind in expected_kinds:
        for index, entry in enumerate(entries):
            key = f"{params_path}: generate.openai.{list_name}.{index}.template"
            if entry.template not in available:
                problems.append(f"{key}: no template '{entry.template}' in {prompts_dir}/ (have: {available})")
                continue
            if entry.template not in loaded:
                try:
                    loaded[entry.template] = load_template(prompts_dir / f"{entry.template}{TEMPLATE_SUFFIX}", domain)
                except UserError as err:
                    loaded[entry.template] = None
                    problems.append(str(err))
            template = loaded[entry.template]
            if template is not None and template.kind != kind:
                problems.append(f"{key}: '{entry.template}' is a {template.kind} template; {list_name} need {kind}")
            elif template is not None:
                templates[entry.template] = template
    return templates, problems


def load_templates(
    params: OpenAIParams, prompts_dir: Path, params_path: Path, domain: dict[str, str] | None = None
) -> dict[str, PromptTemplate]:
    """The templates params name, checked to exist and to be of the right kind for their list
    (`template_problems`, whose first problem is a UserError)."""
    templates, problems = template_problems(params, prompts_dir, params_path, domain)
    if problems:
        raise UserError(problems[0])
    return templates


def prompt_values(seed: dict[str, Any], kind: TemplateKind, policy: str) -> dict[str, str]:
    """Placeholder values for one seed: a variation sees the whole conversation, a reply the prompt;
    `policy` is the text `{{policy}}` stands for (the seed's excerpt)."""
    turns = seed["messages"] if kind == "variation" else prompt_turns(seed)
    refs = seed.get("meta", {}).get("policy_refs") or []
    return {
        "policy": policy,
        # One turn per line: readable for the teacher, and json's C encoder (indent= is pure Python).
        "conversation": "[\n"
        + ",\n".join(_TURN_JSON.encode({"role": m["role"], "content": m["content"]}) for m in turns)
        + "\n]",
        "intent": seed["intent"],
        "slice": seed["slice"],
        "policy_refs": ", ".join(refs) if refs else "none listed",
        "output_format": OUTPUT_FORMATS[kind],
    }


def prompt_turns(seed: dict[str, Any]) -> list[dict[str, str]]:
    """The seed's conversation up to its last user turn: the prompt of a preference pair."""
    messages = seed["messages"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return [{"role": m["role"], "content": m["content"]} for m in messages[: last_user + 1]]
