"""The built-in generator's word lists: a neutral default in this package, a domain's own file on top.

A lexicon file is YAML with these keys, all optional (a domain writes only what it adds):

    extends: default          # default: add to the neutral default lists | none: use this file alone
    substitutions:            # words or phrases a customer may say instead of each other
      - [problem, issue]      # a list: any member may replace any other
      - {fee: [charge, cost]} # a one-key mapping: the key may be replaced by a value, never back
      - {a bit: [a little], not_before: [of]}                            # never before these words
      - {phrases: [tell me, let me know], only_before: [if, how, what]}  # only before these, or at a clause end
    openers:  {formal: [...], frustrated: [...], casual: [...]}   # sentences put before the request
    closers:  {formal: [...], frustrated: [...], casual: [...]}   # sentences put after it
    situations: [...]         # whole sentences: where the customer is or what they are doing
    slang: {you: u, ...}      # a word and how it is texted
    fillers: [um, ...]        # hesitations, only ever put at the start of a sentence
    hedges: [really, ...]     # adverbs that may be left out or put before a verb without changing meaning
    empathy: [...]            # first sentence of the reply to an upset customer

A swap that is right only before some words says so with `not_before` or `only_before` (lowercase
words; `phrases:` is the list form written as a mapping, so that it can carry them): "a bit of a rush"
is English, "a little of a rush" is not, and "I don't know the code" cannot become "I'm not sure the
code" while "I don't know why" can become "I'm not sure why".

`validate_lexicon(path)` lists every problem as "file:line: field: what is wrong"; `load_lexicon`
raises a UserError with all of them. The neutral default (default_lexicon.yaml, beside this
module) names no product, brand, domain or place: the domain's words come only from its own file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stages.core.errors import UserError
from stages.core.files import read_text
from stages.core.hashing import sha256_hex
from stages.core.params import compose_yaml, yaml_problem
from stages.core.spans import negation_count

DEFAULT_PATH = Path(__file__).with_name("default_lexicon.yaml")
REGISTERS = ("formal", "frustrated", "casual")
LIST_KEYS = ("situations", "fillers", "hedges", "empathy")
CONTEXT_KEYS = ("not_before", "only_before")  # in a mapping entry of `substitutions`
KEYS = ("extends", "substitutions", "openers", "closers", "slang", *LIST_KEYS)
_PHRASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9' -]*[A-Za-z0-9']$|^[A-Za-z0-9]$")
_WORD = re.compile(r"^[A-Za-z0-9'-]+$")
MAX_CHARS = 200


@dataclass(frozen=True)
class Substitution:
    """One entry of `substitutions`: `sources` may be replaced by any of `targets` (lowercase phrases),
    never before a word of `not_before` and, when `only_before` is given, only before one of its words
    or at the end of a clause (lowercase words)."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    not_before: tuple[str, ...] = ()
    only_before: tuple[str, ...] = ()

    def alternatives(self, phrase: str) -> list[str]:
        """What `phrase` (a source, any case) may become: the targets other than itself."""
        key = phrase.casefold()
        return [target for target in self.targets if target != key]

    def allows(self, next_word: str | None) -> bool:
        """Whether a swap may be made before `next_word` (lowercase; None: the clause ends there)."""
        if next_word is None:
            return True
        return next_word not in self.not_before and (not self.only_before or next_word in self.only_before)

    def hashed(self) -> list[list[str]]:
        """What the content hash covers: the phrases, and the context lists when there are any."""
        contexts = [list(self.not_before), list(self.only_before)] if self.not_before or self.only_before else []
        return [list(self.sources), list(self.targets), *contexts]


@dataclass(frozen=True)
class Lexicon:
    """The lists the templates draw from (see the module docstring), and where they came from."""

    substitutions: tuple[Substitution, ...] = ()
    openers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    closers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    situations: tuple[str, ...] = ()
    slang: dict[str, str] = field(default_factory=dict)
    fillers: tuple[str, ...] = ()
    hedges: tuple[str, ...] = ()
    empathy: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def content_hash(self) -> str:
        """16 hex chars of sha256 over every list: goes into each template's hash, so provenance tracks it."""
        return sha256_hex([
            [entry.hashed() for entry in self.substitutions],
            self.openers, self.closers, list(self.situations), self.slang,
            list(self.fillers), list(self.hedges), list(self.empathy),
        ])[:16]  # fmt: skip

    def opener(self, register: str) -> tuple[str, ...]:
        """The openers of a register (empty if none)."""
        return self.openers.get(register, ())

    def closer(self, register: str) -> tuple[str, ...]:
        """The closers of a register (empty if none)."""
        return self.closers.get(register, ())


class _Problems:
    """Collects "file:line: field: message" lines."""

    def __init__(self, path: Path) -> None:
        self.path, self.lines = path, []

    def add(self, node: yaml.Node | None, where: str, message: str) -> None:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        self.lines.append(f"{self.path}{line}: {where}: {message}")


def _text(node: yaml.Node, where: str, problems: _Problems, pattern: re.Pattern[str] | None = None) -> str | None:
    """The string a scalar node holds, or None after noting why it is not a usable one."""
    if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
        problems.add(node, where, "expected a text")
        return None
    value = " ".join(str(node.value).split())
    if not value or len(value) > MAX_CHARS:
        problems.add(node, where, f"expected 1 to {MAX_CHARS} characters")
        return None
    if pattern is not None and not pattern.match(value):
        problems.add(node, where, f"{value!r}: use letters, digits, spaces, hyphens and apostrophes only")
        return None
    return value


def _texts(node: yaml.Node, where: str, problems: _Problems, sentence: bool = False) -> list[str]:
    """The texts of a sequence node; with `sentence`, each must end with . ! ? : or ,."""
    if not isinstance(node, yaml.SequenceNode):
        problems.add(node, where, "expected a list")
        return []
    found = []
    for index, item in enumerate(node.value):
        value = _text(item, f"{where}[{index}]", problems)
        if value is not None and sentence and not value.endswith((".", "!", "?", ":", ",")):
            problems.add(item, f"{where}[{index}]", f"{value!r}: end it with . ! ? : or ,")
        elif value is not None:
            found.append(value)
    return found


def _phrases(node: yaml.Node, where: str, problems: _Problems) -> list[str | None] | None:
    """The phrases of a list node (None items: noted problems), or None when the node is not a non-empty list."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        return None
    return [_text(item, f"{where}[{i}]", problems, _PHRASE) for i, item in enumerate(node.value)]


def _words(node: yaml.Node, where: str, problems: _Problems) -> tuple[str, ...] | None:
    """The lowercase words of a `not_before` / `only_before` list, or None after noting the problem."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        problems.add(node, where, "expected a list of words")
        return None
    found = [_text(item, f"{where}[{i}]", problems, _WORD) for i, item in enumerate(node.value)]
    return None if None in found else tuple(dict.fromkeys(word.casefold() for word in found if word))


def _mapping_entry(node: yaml.MappingNode, where: str, problems: _Problems) -> Substitution | None:
    """A mapping entry: `source: [replacements]` (one way) or `phrases: [...]` (interchangeable), with
    optional `not_before` and `only_before` word lists."""
    rest = [(key, value) for key, value in node.value if key.value not in CONTEXT_KEYS]
    if len(rest) != 1:
        problems.add(node, where, "expected a list of interchangeable phrases or a one-key mapping")
        return None
    key_node, value_node = rest[0]
    symmetric = key_node.value == "phrases"
    source = None if symmetric else _text(key_node, where, problems, _PHRASE)
    label = f"{where}.{'phrases' if symmetric else source}"
    targets = _phrases(value_node, label, problems)
    if targets is None:
        problems.add(
            value_node, label, "expected a list of phrases" if symmetric else "expected a list of replacements"
        )
    context_nodes = {key.value: value for key, value in node.value if key.value in CONTEXT_KEYS}
    contexts = {name: _words(value, f"{where}.{name}", problems) for name, value in context_nodes.items()}
    if targets is None or None in targets or (source is None and not symmetric) or None in contexts.values():
        return None
    members = tuple(dict.fromkeys(t.casefold() for t in targets if t))
    sources = members if symmetric else (str(source).casefold(),)
    return Substitution(sources, members, contexts.get("not_before") or (), contexts.get("only_before") or ())


def _substitution(node: yaml.Node, where: str, problems: _Problems) -> Substitution | None:
    if isinstance(node, yaml.SequenceNode):
        phrases = _phrases(node, where, problems) or []
        if None in phrases:
            return None
        members = tuple(dict.fromkeys(p.casefold() for p in phrases if p))
        entry: Substitution | None = Substitution(members, members)
    elif isinstance(node, yaml.MappingNode):
        entry = _mapping_entry(node, where, problems)
    else:
        problems.add(node, where, "expected a list of interchangeable phrases or a one-key mapping")
        return None
    if entry is None:
        return None
    if len(set(entry.sources) | set(entry.targets)) < 2:
        problems.add(node, where, "needs at least two different phrases")
        return None
    if len({negation_count(phrase) for phrase in (*entry.sources, *entry.targets)}) > 1:
        problems.add(node, where, "its phrases differ in negation: a replacement would change the meaning")
        return None
    return entry


def _registers(node: yaml.Node, where: str, problems: _Problems) -> dict[str, list[str]]:
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, where, f"expected a mapping of {', '.join(REGISTERS)} to lists")
        return {}
    found = {}
    for key_node, value_node in node.value:
        if key_node.value not in REGISTERS:
            problems.add(key_node, f"{where}.{key_node.value}", f"unknown register; known: {', '.join(REGISTERS)}")
            continue
        # casual lines are texted ("hey", "thx"): no end punctuation needed
        sentence = key_node.value != "casual"
        found[key_node.value] = _texts(value_node, f"{where}.{key_node.value}", problems, sentence=sentence)
    return found


def _slang(node: yaml.Node, problems: _Problems) -> dict[str, str]:
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, "slang", "expected a mapping of a word to how it is texted")
        return {}
    found = {}
    for key_node, value_node in node.value:
        word = _text(key_node, "slang", problems, _WORD)
        short = _text(value_node, f"slang.{word}", problems, _WORD)
        if word and short:
            found[word.casefold()] = short
    return found


def _read(path: Path, problems: _Problems) -> dict[str, Any]:
    """The file's sections as plain values (problems noted); {} for an empty file."""
    try:  # read as params and the domain file are: UTF-8 (else the line), no alias bomb
        root = compose_yaml(path, read_text(path, "lexicon file"), "a lexicon")
    except UserError as error:
        problems.lines.append(str(error))
        return {}
    except OSError as error:
        problems.add(None, "file", f"cannot be read ({error.strerror or error})")
        return {}
    except yaml.YAMLError as error:
        problems.lines.append(yaml_problem(path, error))
        return {}
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        problems.add(root, "file", "expected a mapping of the keys " + ", ".join(KEYS))
        return {}
    return _sections(root, problems)


def _sections(root: yaml.MappingNode, problems: _Problems) -> dict[str, Any]:
    sections: dict[str, Any] = {}
    for key_node, node in root.value:
        key = key_node.value
        if key not in KEYS:
            problems.add(key_node, str(key), f"unknown key; known: {', '.join(KEYS)}")
        elif key == "extends":
            if node.value not in ("default", "none"):
                problems.add(node, key, "expected default or none")
            sections[key] = node.value
        elif key == "substitutions":
            items = node.value if isinstance(node, yaml.SequenceNode) else []
            if not isinstance(node, yaml.SequenceNode):
                problems.add(node, key, "expected a list")
            sections[key] = [_substitution(item, f"{key}[{i}]", problems) for i, item in enumerate(items)]
        elif key in ("openers", "closers"):
            sections[key] = _registers(node, key, problems)
        elif key == "slang":
            sections[key] = _slang(node, problems)
        else:
            sections[key] = _texts(node, key, problems, sentence=key in ("situations", "empathy"))
    return sections


def validate_lexicon(path: str | Path) -> list[str]:
    """Every problem of a lexicon file, one "file:line: field: message" line each ([] when it is valid)."""
    problems = _Problems(Path(path))
    _read(Path(path), problems)
    return problems.lines


def _unique(*lists: Any) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(item for items in lists for item in items))


def _merge(base: Lexicon, sections: dict[str, Any], source: str) -> Lexicon:
    """`base` with the file's lists added (base first, duplicates dropped)."""
    substitutions = [entry for entry in sections.get("substitutions", []) if entry is not None]
    openers, closers = sections.get("openers", {}), sections.get("closers", {})
    return Lexicon(
        substitutions=_unique(base.substitutions, substitutions),
        openers={r: _unique(base.opener(r), openers.get(r, [])) for r in REGISTERS},
        closers={r: _unique(base.closer(r), closers.get(r, [])) for r in REGISTERS},
        situations=_unique(base.situations, sections.get("situations", [])),
        slang={**base.slang, **sections.get("slang", {})},
        fillers=_unique(base.fillers, sections.get("fillers", [])),
        hedges=_unique(base.hedges, sections.get("hedges", [])),
        empathy=_unique(base.empathy, sections.get("empathy", [])),
        sources=(*base.sources, source),
    )


def _load_file(path: Path) -> dict[str, Any]:
    problems = _Problems(path)
    sections = _read(path, problems)
    if problems.lines:
        raise UserError("invalid lexicon:\n" + "\n".join(problems.lines))
    return sections


def load_lexicon(path: str | Path | None) -> Lexicon:
    """The lexicon of `path` on top of the neutral default (or alone with `extends: none`); `path`
    None gives the neutral default. Raises UserError listing every problem, or naming a missing file."""
    default = _merge(Lexicon(), _load_file(DEFAULT_PATH), "default")
    if path is None:
        return default
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path}: lexicon file not found (params generate.builtin.lexicon; null uses the neutral default)"
        )
    sections = _load_file(path)
    base = Lexicon() if sections.get("extends") == "none" else default
    return _merge(base, sections, str(path))
