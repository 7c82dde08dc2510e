"""Build the checks params switch on, and run them over rows in batches.

Every check sees every row (bar rows the schema check rejected), so a rejected row carries all its
reasons, in the order of `filter.checks`. Rows go through in batches of `core.tally.BATCH_ROWS`, check
by check, so a check with a batch form (the intent classifier) scores thousands of rows per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from stages.core.errors import UserError
from stages.core.tally import batches
from stages.filter.checks.base import Check, CheckInputs, Row, registered
from stages.filter.params import FilterSection


@dataclass
class CheckSet:
    """The checks to run, in order, and those switched on that could not be built (name: why)."""

    checks: list[Check] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        """The names of the checks that run, in run order."""
        return [check.name for check in self.checks]

    def metrics(self) -> dict[str, Any]:
        """Every check's figures for metrics (`Check.metrics`), merged."""
        merged: dict[str, Any] = {}
        for check in self.checks:
            merged.update(check.metrics())
        return merged


def assemble_checks(params: FilterSection, inputs: CheckInputs, problems: list[str] | None = None) -> CheckSet:
    """The checks `params.checks` lists, in that order, each built from its params block. A check
    whose input is missing from `inputs` is left out and listed in `skipped`; a bad input file is a
    UserError (from the check's `build`), or, given a `problems` list, one line added to it and that
    check left out (validate lists every problem at once)."""
    classes = registered()
    result = CheckSet()
    for name in params.checks:
        cls = classes[name]
        try:
            check = cls.build(params.block(name), inputs)
        except UserError as err:
            if problems is None:
                raise
            problems.append(str(err))
            continue
        if check is None:
            result.skipped[name] = cls.needs
        else:
            result.checks.append(check)
    return result


def run_checks_batch(rows: Sequence[Row], checks: Sequence[Check]) -> list[list[str]]:
    """All reasons to reject each row (empty: keep), check by check. Rows a `runs_first` check
    (schema) rejects are shown to no later check."""
    reasons: list[list[str]] = [[] for _ in rows]
    active = list(range(len(rows)))
    for check in checks:
        found = check.check_batch([rows[index] for index in active])
        for index, reason in zip(active, found, strict=True):
            if reason:
                reasons[index].append(reason)
        if check.runs_first:
            active = [index for index in active if not reasons[index]]
    return reasons


def filter_batches(rows: Iterable[Row], checks: Sequence[Check]) -> Iterator[tuple[Row, list[str]]]:
    """(row, reasons) for every row, in input order; reasons empty for a kept row."""
    for batch in batches(rows):
        yield from zip(batch, run_checks_batch(batch, checks), strict=True)
