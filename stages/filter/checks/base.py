"""What a filter check is, and the registry that finds every check of this package.

As in datatrove's filters (`BaseFilter.filter` / `filter_batch`), a check sees a row and answers
None (keep) or a reason, "code" or "code: detail"; `check_batch` answers for many rows at once and
by default asks `check` row by row (the intent classifier overrides it: one model call per batch).
A check class declares its `name`, its reason `codes`, its `Params` model (the `filter.<name>` block
of params.yaml) and its default run position; subclassing `Check` registers it, and `registered()`
imports every module of this package, so adding a check is one module plus one params block.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from stages.core.params import Section

Row = dict[str, Any]
_REGISTRY: dict[str, type[Check]] = {}


@dataclass(frozen=True)
class CheckInputs:
    """Files some checks read; None: not available, so a check that needs it is skipped.

    `blocklist`: phrases, one per line (seeds/blocklist.txt); `policy`: the policy document
    (seeds/policy.md); `seeds`: the seed stage's rows (data/seed/seeds.jsonl); `prompts`: the
    teacher's prompt templates (prompts/).
    """

    blocklist: Path | None = None
    policy: Path | None = None
    seeds: Path | None = None
    prompts: Path | None = None


class Check(ABC):
    """One filter check. Subclasses set the class attributes below and implement `check`.

    name        the check's name in `filter.checks` and in metrics
    codes       the reason codes it gives; empty means just `name`
    Params      its params model (`filter.<name>` in params.yaml), or None for a check with no settings
    run_order   where it runs when `filter.checks` is not given: lower first (cheap checks first)
    runs_first  later checks assume a row it passed: it must be listed first, and rows it rejects
                are shown to no other check
    needs       what `build` needs that can be missing, said when the check is skipped
    reads       the CheckInputs fields it reads ("seeds", "policy", "prompts"), so the stage opens them
    """

    name: ClassVar[str]
    codes: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[Section] | None] = None
    run_order: ClassVar[int]
    runs_first: ClassVar[bool] = False
    needs: ClassVar[str] = ""
    reads: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register every subclass that names itself; two checks of one name are a TypeError."""
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
                raise TypeError(f"two filter checks are named '{cls.name}'")
            _REGISTRY[cls.name] = cls

    @classmethod
    def reason_codes(cls) -> tuple[str, ...]:
        """The reason codes this check gives."""
        return cls.codes or (cls.name,)

    @classmethod
    def build(cls, params: Any, inputs: CheckInputs) -> Check | None:
        """The check for `params` (its `Params` instance, None if it has none), or None when an input
        it needs is missing. The default takes no inputs: `cls(params)`, or `cls()` without Params."""
        return cls() if cls.Params is None else cls(params)  # type: ignore[call-arg]

    @abstractmethod
    def check(self, row: Row) -> str | None:
        """None to keep `row`, else the reason to reject it ("code" or "code: detail")."""

    def check_batch(self, rows: Sequence[Row]) -> list[str | None]:
        """`check` for each row, in order; override when many rows at once are cheaper."""
        check = self.check
        return [check(row) for row in rows]

    def metrics(self) -> dict[str, Any]:
        """Figures about the built check for metrics/filter.json (e.g. a classifier's training size)."""
        return {}


@cache
def registered() -> dict[str, type[Check]]:
    """Every check class of this package by name, in default run order (`run_order`, then name)."""
    folder = Path(__file__).parent
    for module in pkgutil.iter_modules([str(folder)]):
        importlib.import_module(f"{__package__}.{module.name}")
    return dict(sorted(_REGISTRY.items(), key=lambda item: (item[1].run_order, item[0])))


@cache
def check_of(code: str) -> str:
    """The name of the check that gives reason code `code` (the code itself if no check declares it)."""
    for name, cls in registered().items():
        if code in cls.reason_codes():
            return name
    return code
