"""dvc.yaml lists, for each stage, exactly the code it runs: its module and every `stages/` module it
imports, directly or not. So a change to one stage's code reruns that stage and what follows it, and
no stage runs code that DVC does not hash."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def imported_modules(path: Path) -> set[Path]:
    """The files of this repository's `stages` package that `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            candidate = ROOT / (name.replace(".", "/") + ".py")
            if name.split(".")[0] == "stages" and candidate.is_file():
                found.add(candidate)
    return found


def code_of(stage: str) -> set[str]:
    """The stage's module and everything under stages/ it imports, transitively."""
    seen: set[Path] = set()
    todo = [ROOT / "stages" / f"{stage}.py"]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(imported_modules(path))
    return {str(path.relative_to(ROOT)) for path in seen}


@pytest.mark.parametrize("stage", sorted(PIPELINE))
def test_each_stage_depends_on_exactly_the_code_it_runs(stage: str) -> None:
    deps = {dep for dep in PIPELINE[stage]["deps"] if dep.startswith("stages/")}
    needed = code_of(stage)
    assert not needed - deps, f"dvc.yaml stage '{stage}': add to deps: {sorted(needed - deps)}"
    assert not deps - needed, f"dvc.yaml stage '{stage}': deps it does not import: {sorted(deps - needed)}"


def test_package_init_files_hold_no_code() -> None:
    """Importing stages.common runs its __init__ files, which no stage lists: they must stay docstrings."""
    for path in (ROOT / "stages").rglob("__init__.py"):
        body = ast.parse(path.read_text()).body
        assert all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body), path
