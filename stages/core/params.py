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
from stages.core.files import read_text
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


def describe_errors(err: ValidationError, path: Path, section: str) -> str:
    """One line per problem of a params block: "<file>: <section>.<key>: why (got <value>)"."""
    lines = []
    for item in err.errors():
        key = ".".join([section, *(str(part) for part in item["loc"])])
        message = item["msg"].removeprefix("Value error, ")
        got = f" (got {item['input']!r})" if item["type"] not in ("missing", "value_error") else ""
        lines.append(f"{path}: {key}: {message}{got}")
    return "\n".join(lines)


# Values that YAML aliases (*name) may add to params.yaml by repeating anchored ones. A handful of
# aliases add tens of values; an "alias bomb" (aliases of aliases) adds billions and exhausts memory.
MAX_ALIAS_VALUES = 10_000


def _expanded_sizes(root: yaml.Node) -> tuple[int, int]:
    """(nodes written, nodes once every alias is expanded) of a composed YAML document, without
    expanding: each node's expanded size is computed once (aliases share their anchor's node)."""
    sizes: dict[int, int] = {}
    written: set[int] = set()
    in_progress: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise ValueError("a YAML alias refers to the node it is in (a recursive alias)")
        in_progress.add(key)
        written.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        sizes[key] = 1 + sum(size(child) for child in children)
        in_progress.discard(key)
        return sizes[key]

    total = size(root)
    return len(written), total


def compose_yaml(path: Path, text: str, what: str = "params") -> yaml.Node | None:
    """The composed YAML document (no alias expanded; None for an empty one), refusing alias expansion
    past MAX_ALIAS_VALUES, a recursive alias and nesting too deep to read: a UserError naming `path` and
    saying what the file should be (`what`). Text that is not YAML raises yaml.YAMLError."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is None:
            return None
        written, expanded = _expanded_sizes(root)
    except ValueError as err:
        raise UserError(f"{path}: not valid {what}: {err}") from None
    except RecursionError:
        raise UserError(f"{path}: YAML nested too deeply to be {what}") from None
    if expanded - written > MAX_ALIAS_VALUES:
        raise UserError(
            f"{path}: YAML aliases would add {expanded - written} values (more than {MAX_ALIAS_VALUES}:"
            " an alias bomb?); write the values out instead of aliasing aliases"
        )
    return root


def yaml_problem(path: str | Path, err: yaml.YAMLError) -> str:
    """'<path>:<line>: not valid YAML (<what>; <while doing what, from which line>)' for a YAML syntax
    error, lines as a person counts them: the line where the parser gave up, and the line of what it
    was reading (an unclosed bracket or quote opens there)."""
    mark = getattr(err, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    what = getattr(err, "problem", None) or " ".join(str(err).split())
    context, opened = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and opened is not None:
        what += f"; {context} that starts at line {opened.line + 1}"
    return f"{where}: not valid YAML ({what})"


def _load_yaml(path: Path, text: str) -> Any:
    """The YAML document, refused (a UserError, at once) as `compose_yaml` refuses it."""
    try:
        if compose_yaml(path, text) is None:
            return None
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UserError(yaml_problem(path, err)) from None
    except RecursionError:
        raise UserError(f"{path}: YAML nested too deeply to be params") from None


def read_params_file(path: str | Path = DEFAULT_PARAMS_FILE) -> dict[str, Any]:
    """The raw params mapping; a missing file, a file that is not UTF-8, bad YAML or YAML aliases that
    expand past MAX_ALIAS_VALUES are a UserError."""
    path = Path(path)
    raw: Any = _load_yaml(path, read_text(path, "params file"))
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
        # Paths in params are checked against the folder that holds the params file (the repository's root).
        context = {"repository": Path(path).resolve().parent}
        return model.model_validate(raw[name] if raw[name] is not None else {}, context=context)
    except ValidationError as err:
        raise UserError(describe_errors(err, Path(path), name)) from None


def repository_path(value: str, allow_outside: bool, allow_key: str, root: Path) -> Path:
    """A path from params, relative to the repository whose root is `root` (where params.yaml is and DVC
    runs every stage). A path that leads outside it (absolute, "..", or a symlink out) is a ValueError
    naming `allow_key`, the param that allows it, unless `allow_outside`; the file itself is not read."""
    base = root.resolve()
    path = Path(value)
    if not allow_outside and not (base / path).resolve().is_relative_to(base):
        raise ValueError(
            f"'{value}' is outside the repository; copy the file into it (and `dvc add` it) or set {allow_key}: true"
        )
    return path


def section_hash(section: BaseModel) -> str:
    """Hash of one params section, recorded in provenance."""
    return sha256_hex(section.model_dump(mode="json"))[:16]
