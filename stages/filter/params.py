"""Params of the filter stage: the `filter` section of params.yaml, composed from the checks' own blocks.

`filter.checks` switches checks on, in run order; every other key is one check's block (`length:`,
`pii:`...), validated by the `Params` model that check's module declares, where its defaults live.
`FilterParams` is built from the registry (stages/filter/checks/base.py), so a new check module
brings its block with it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, create_model, model_validator

from stages.core.params import Section
from stages.filter.checks.base import registered


class FilterSection(Section):
    """What every composed `FilterParams` has: the checks switched on, in run order."""

    checks: list[str]

    @model_validator(mode="after")
    def _consistent(self) -> FilterSection:
        if len(set(self.checks)) != len(self.checks):
            raise ValueError("checks: a check is listed twice")
        classes = registered()
        for position, name in enumerate(self.checks):
            if position and classes[name].runs_first:
                raise ValueError(f"checks: {name} must come first (the other checks assume a row it passed)")
        return self

    def block(self, name: str) -> Section | None:
        """The params block of check `name`, or None if that check has no settings."""
        return getattr(self, name) if name in type(self).model_fields and name != "checks" else None


def _compose() -> type[FilterSection]:
    classes = registered()
    names = tuple(classes)
    fields: dict[str, Any] = {"checks": (list[Literal[names]], Field(default=list(names)))}  # type: ignore[valid-type]
    for name, cls in classes.items():
        if cls.Params is not None:
            fields[name] = (cls.Params, Field(default_factory=cls.Params))
    return create_model("FilterParams", __base__=FilterSection, __doc__=__doc__, **fields)


FilterParams = _compose()
