"""params.yaml, validated on load: a wrong key or value is an error that names the key.

Each section sits beside its stage (as in DVC's example-get-started): `taxonomy` is shared,
then one section per stage. dvc.yaml lists, per stage, exactly the sections it reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stages.common.errors import UserError
from stages.common.hashing import sha256_hex

DEFAULT_PARAMS_FILE = Path("params.yaml")
S = TypeVar("S", bound="Section")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Taxonomy(Section):
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
        for slice_name, intents in self.slices.items():
            if intent in intents:
                return slice_name
        return None

    def is_critical(self, slice_name: str) -> bool:
        return slice_name in self.critical


class SeedParams(Section):
    min_cases_per_intent: int = Field(default=1, ge=0)


BUILTIN_TEMPLATES = (
    "lexical_swap",
    "casual_short",
    "formal_verbose",
    "noisy_typing",
    "frustrated",
    "situational",
)


class GenerateParams(Section):
    backend: Literal["builtin"] = "builtin"
    seed: int = 0
    variations_per_seed: int = Field(default=4, ge=0, le=1000)
    templates: list[str] = Field(default=list(BUILTIN_TEMPLATES), min_length=1)
    temperatures: list[float] = Field(default=[0.7], min_length=1)

    @model_validator(mode="after")
    def _known_templates(self) -> GenerateParams:
        unknown = [name for name in self.templates if name not in BUILTIN_TEMPLATES]
        if unknown:
            raise ValueError(f"templates: unknown builtin template(s) {unknown}; known: {list(BUILTIN_TEMPLATES)}")
        if len(set(self.templates)) != len(self.templates):
            raise ValueError("templates: a template is listed twice")
        if any(not 0 <= t <= 2 for t in self.temperatures):
            raise ValueError(f"temperatures: each must be between 0 and 2, got {self.temperatures}")
        return self


class FilterParams(Section):
    checks: list[Literal["schema", "length", "blocklist"]] = Field(default=["schema", "length", "blocklist"])
    min_user_chars: int = Field(default=3, ge=0)
    max_user_chars: int = Field(default=800, ge=1)
    min_assistant_chars: int = Field(default=20, ge=0)
    max_assistant_chars: int = Field(default=1500, ge=1)


class DedupParams(Section):
    text: Literal["user", "conversation"] = "user"
    ngram: int = Field(default=1, ge=1, le=13)
    threshold: float = Field(default=0.8, gt=0, le=1)
    num_perm: int = Field(default=128, ge=16, le=1024)
    bands: int = Field(default=16, ge=1)
    rows_per_band: int = Field(default=8, ge=1)
    against_seeds: bool = True
    decontaminate_eval: bool = True

    @model_validator(mode="after")
    def _bands_fit(self) -> DedupParams:
        if self.bands * self.rows_per_band > self.num_perm:
            raise ValueError(
                f"bands x rows_per_band = {self.bands * self.rows_per_band} exceeds num_perm = {self.num_perm}"
            )
        return self


class ReviewParams(Section):
    seed: int = 0
    critical_rate: float = Field(default=1.0, ge=0, le=1)
    default_rate: float = Field(default=0.1, ge=0, le=1)
    max_per_critical_slice: int = Field(default=200, ge=0)
    # Overall rows per run; critical slices are served first. None: no overall cap.
    budget_rows: int | None = Field(default=None, ge=0)
    flag_error_rate: float = Field(default=0.1, gt=0, le=1)
    # A decision whose id matches no row at all: "error" (typo, wrong file) or "warn" (count it,
    # e.g. while experimenting with generate params that replace rows).
    on_unknown_id: Literal["error", "warn"] = "error"


class ExclusionRule(Section):
    """Targeted rollback: drop every synthetic row whose provenance matches all the given fields."""

    name: str = Field(min_length=1)
    generator: str | None = None
    generator_version: str | None = None
    model: str | None = None
    model_version: str | None = None
    template_id: str | None = None
    seed_id: str | None = None
    case_id: str | None = None
    generated_from: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}")
    generated_until: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}")

    @model_validator(mode="after")
    def _has_a_condition(self) -> ExclusionRule:
        if not self.model_dump(exclude={"name"}, exclude_none=True):
            raise ValueError(f"rule '{self.name}' has no condition: it would remove every synthetic row")
        return self


class MixParams(Section):
    seed: int = 0
    min_human_share: float = Field(default=0.3, ge=0, le=1)
    max_synthetic_share_critical: float = Field(default=0.5, ge=0, le=1)
    critical_requires_approval: bool = True
    eval_fraction: float = Field(default=0.15, ge=0, lt=1)
    # Optional upper bound on rows per slice (human rows are never dropped to meet it).
    target_rows: dict[str, int] = Field(default_factory=dict)
    exclude: list[ExclusionRule] = Field(default_factory=list)
    system_prompt: str = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> MixParams:
        names = [rule.name for rule in self.exclude]
        if len(set(names)) != len(names):
            raise ValueError(f"exclude: rule names must be unique, got {names}")
        if any(count < 0 for count in self.target_rows.values()):
            raise ValueError("target_rows: counts must be >= 0")
        return self


SECTIONS: dict[str, type[Section]] = {
    "taxonomy": Taxonomy,
    "seed": SeedParams,
    "generate": GenerateParams,
    "filter": FilterParams,
    "dedup": DedupParams,
    "review": ReviewParams,
    "mix": MixParams,
}


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
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise UserError(f"{path}: unknown section(s) {unknown}; known: {sorted(SECTIONS)}")
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


def load_all(path: str | Path = DEFAULT_PARAMS_FILE) -> dict[str, Section]:
    """Every section validated: for `python -m stages.common.params` and tests."""
    return {name: load_section(path, name, model) for name, model in SECTIONS.items()}


def section_hash(section: BaseModel) -> str:
    """Hash of one params section, recorded in provenance."""
    return sha256_hex(section.model_dump(mode="json"))[:16]


if __name__ == "__main__":
    from stages.common.errors import run_main

    run_main(lambda: print(f"{DEFAULT_PARAMS_FILE}: valid ({', '.join(load_all())})"))
