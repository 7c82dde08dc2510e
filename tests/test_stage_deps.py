"""dvc.yaml lists, for each stage, exactly the code it runs: its package folder `stages/<stage>` and
every `stages/core` module it imports, directly or not. So a change to one stage's code reruns that
stage and what follows it, no stage runs code that DVC does not hash, and no stage imports another's."""

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
            if name.split(".")[0] != "stages":
                continue
            base = ROOT / name.replace(".", "/")
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    found.add(candidate)
    return found


def code_of(stage: str) -> set[str]:
    """The stage's package folder and every file outside it that the package imports, transitively."""
    package = ROOT / "stages" / stage
    seen: set[Path] = set()
    todo = sorted(package.rglob("*.py"))
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(imported_modules(path))
    outside = {str(path.relative_to(ROOT)) for path in seen if package not in path.parents}
    return {f"stages/{stage}", *outside} - {"stages/__init__.py", "stages/core/__init__.py"}


@pytest.mark.parametrize("stage", sorted(PIPELINE))
def test_each_stage_depends_on_exactly_the_code_it_runs(stage: str) -> None:
    deps = {dep for dep in PIPELINE[stage]["deps"] if dep.startswith("stages/")}
    needed = code_of(stage)
    others = sorted(path for path in needed if not path.startswith(("stages/core/", f"stages/{stage}")))
    assert not others, f"stage '{stage}' imports code outside its package and stages/core: {others}"
    assert not needed - deps, f"dvc.yaml stage '{stage}': add to deps: {sorted(needed - deps)}"
    assert not deps - needed, f"dvc.yaml stage '{stage}': deps it does not import: {sorted(deps - needed)}"


def test_package_init_files_hold_no_code() -> None:
    """Importing a stage runs the __init__ files of stages/ and stages/core, which no stage lists:
    they must stay docstrings (a stage package's own __init__ is inside its dependency folder)."""
    for path in (ROOT / "stages" / "__init__.py", ROOT / "stages" / "core" / "__init__.py"):
        body = ast.parse(path.read_text()).body
        assert all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body), path
