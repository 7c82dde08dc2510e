"""The schema check: the row must be a valid pipeline row (stages/core/rows.py)."""

from __future__ import annotations

from typing import ClassVar

from stages.core.rows import schema_problem
from stages.filter.checks.base import Check, Row


class SchemaCheck(Check):
    """Rejects a row that breaks the row schema, naming the first field at fault ("schema: source: ...").

    The other checks read messages and labels without re-checking them, so this one runs first and
    a row it rejects is shown to no other check.
    """

    name: ClassVar[str] = "schema"
    run_order: ClassVar[int] = 0
    runs_first: ClassVar[bool] = True

    def check(self, row: Row) -> str | None:
        """`schema: <field>: <problem>` for a malformed row, else None."""
        problem = schema_problem(row)
        return f"schema: {problem}" if problem else None
