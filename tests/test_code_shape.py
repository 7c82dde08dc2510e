"""The team's size limits on the code under stages/: no function over 60 lines, no module over 450.

A function's length runs from its `def` line to its last line (docstring and comments included);
nested functions count inside their parent and on their own.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 450


def oversized(folder: Path, base: Path = ROOT) -> list[str]:
    """'path:line name: N lines' for every module and function under `folder` over its limit (paths from `base`)."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(base)
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{name}: module of {lines} lines (max {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{name}:{node.lineno} {node.name}: {length} lines (max {MAX_FUNCTION_LINES})")
    return found


def test_the_check_names_long_functions_and_modules(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))  # 61 lines with the def
    padding = "#\n" * (MAX_MODULE_LINES - MAX_FUNCTION_LINES - 4)  # exactly 451 lines in all
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n\ndef short():\n    return 1\n{padding}")
    (tmp_path / "fine.py").write_text("def ok():\n    return 1\n")
    assert oversized(tmp_path, tmp_path) == [
        "long.py: module of 451 lines (max 450)",
        "long.py:1 long: 61 lines (max 60)",
    ]


def test_no_function_over_60_lines_and_no_module_over_450() -> None:
    problems = oversized(ROOT / "stages")
    assert not problems, "over the size limits:\n" + "\n".join(problems)
