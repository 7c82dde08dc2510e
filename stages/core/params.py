"""params.yaml, validated on load: a wrong key or value is an error that names the key.

Each section's schema sits beside its stage (`stages/<stage>/params.py`, as in DVC's
example-get-started); here are the loader and `taxonomy`, the one section several stages share.
dvc.yaml lists, per stage, exactly the sections it reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stages.core.errors import UserError
from stages.core.hashing import sha256_hex

DEFAULT_PARAMS_FILE = Path("params.yaml")
S = TypeVar("S", bound="Section")


class Section(BaseModel):
    """One params.yaml section: unknown keys are errors, values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Taxonomy(Section):
    """`taxonomy`: slices of the product, each a list of intent names; critical slices get human review."""

    slices: dict[str, list[str]] = Field(min_length=1)
    critical: list[str]

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        unknown = [name for name in self.critical if name not in self.slices]
        if unknown:
            raise ValueError(f"critical slice(s) {unknown} are not in taxonomy.slices")
        seen: dict[str, str] = {}
        for slice_name, intents in self.slices.items():
            for intent in intents:
                if intent in seen:
                    raise ValueError(f"intent '{intent}' is in both '{seen[intent]}' and '{slice_name}'")
                seen[intent] = slice_name
        return self

    def slice_of(self, intent: str) -> str | None:
        """The slice that lists `intent`, or None."""
        for slice_name, intents in self.slices.items():
            if intent in intents:
                return slice_name
        return None

    def is_critical(self, slice_name: str) -> bool:
        """Whether `slice_name` is listed in `critical`."""
        return slice_name in self.critical


# The sections params.yaml may hold. Named here, not imported, so that the core never depends on a
# stage's schema: each stage's model lives in stages/<stage>/params.py.
SECTION_NAMES: tuple[str, ...] = ("taxonomy", "seed", "generate", "filter", "dedup", "review", "mix", "evaluate")


def _describe(err: ValidationError, path: Path, section: str) -> str:
    lines = []
    for item in err.errors():
        key = ".".join([section, *(str(part) for part in item["loc"])])
        message = item["msg"].removeprefix("Value error, ")
        got = f" (got {item['input']!r})" if item["type"] not in ("missing", "value_error") else ""
        lines.append(f"{path}: {key}: {message}{got}")
    return "\n".join(lines)


def read_params_file(path: str | Path = DEFAULT_PARAMS_FILE) -> dict[str, Any]:
    """The raw params mapping; a missing file or bad YAML is a UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections at the top level")
    unknown = sorted(set(raw) - set(SECTION_NAMES))
    if unknown:
        raise UserError(f"{path}: unknown section(s) {unknown}; known: {sorted(SECTION_NAMES)}")
    return raw


def load_section(path: str | Path, name: str, model: type[S]) -> S:
    """Validate one section. Stages load only the sections dvc.yaml lists for them, so a
    mistake in another stage's section never fails (or silently couples) this one."""
    raw = read_params_file(path)
    if name not in raw:
        raise UserError(f"{path}: {name}: section missing")
    try:
        return model.model_validate(raw[name] if raw[name] is not None else {})
    except ValidationError as err:
        raise UserError(_describe(err, Path(path), name)) from None


def section_hash(section: BaseModel) -> str:
    """Hash of one params section, recorded in provenance."""
    return sha256_hex(section.model_dump(mode="json"))[:16]
