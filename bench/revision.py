"""A module as it was at another git revision, for benchmarks that compare this checkout with a baseline
in the same process (the machines are shared and noisy, so both run alternated in one process)."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_at(revision: str, path: str, drop_classes: frozenset[str] = frozenset()) -> types.ModuleType:
    """The file `path` (relative to the repository) at git `revision`, executed as a new module named
    `baseline_<file stem>`; `drop_classes` are left out (a class that registers itself, such as a check,
    cannot be defined twice). Its imports are this checkout's modules. CalledProcessError when git has
    no such revision or file."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    tree = ast.parse(source)
    tree.body = [node for node in tree.body if not (isinstance(node, ast.ClassDef) and node.name in drop_classes)]
    module = types.ModuleType(f"baseline_{Path(path).stem}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(tree, f"{revision}:{path}", "exec"), module.__dict__)
    return module
