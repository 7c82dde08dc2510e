"""A module as it was at another git revision, and a timing of it against this checkout's: for
benchmarks that compare this checkout with a baseline in the same process (the machines are shared and
noisy, so both run alternated in one process)."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def module_at(
    revision: str,
    path: str,
    drop_classes: frozenset[str] = frozenset(),
    imports: dict[str, types.ModuleType] | None = None,
) -> types.ModuleType:
    """The file `path` (relative to the repository) at git `revision`, executed as a new module named
    `baseline_<file stem>`; `drop_classes` are left out (a class that registers itself, such as a check,
    cannot be defined twice). Its imports are this checkout's modules, but for `imports` (module name: a
    module, e.g. another file at the same revision), which stand in for those names while it loads.
    CalledProcessError when git has no such revision or file."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    tree = ast.parse(source)
    tree.body = [node for node in tree.body if not (isinstance(node, ast.ClassDef) and node.name in drop_classes)]
    module = types.ModuleType(f"baseline_{Path(path).stem}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    saved = {name: sys.modules.get(name) for name in imports or {}}
    sys.modules.update(imports or {})
    try:
        exec(compile(tree, f"{revision}:{path}", "exec"), module.__dict__)
    finally:
        for name, original in saved.items():
            if original is None:
                del sys.modules[name]
            else:
                sys.modules[name] = original
    return module


def alternated(runs: dict[str, Callable[[], list[Any]]], repeats: int, rows: int) -> dict[str, Any]:
    """Run the baseline's and this checkout's verdict functions (`runs`, keys "baseline" and "this checkout")
    alternately `repeats` times, timing each in CPU seconds. Returns each one's seconds, rows per second
    and rejections (verdicts not None) at its best run, the ratio of the best runs, and how many rows (and
    the first five) got another verdict."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    verdicts: dict[str, list[Any]] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.process_time()
            verdicts[name] = run()
            seconds[name].append(round(time.process_time() - start, 3))
    best = {name: min(values) for name, values in seconds.items()}
    differ = [i for i, (a, b) in enumerate(zip(verdicts["baseline"], verdicts["this checkout"], strict=True)) if a != b]
    return {
        "cpu_seconds": seconds,
        "rows_per_s": {name: round(rows / value) if value else None for name, value in best.items()},
        "this checkout / baseline (CPU)": round(best["this checkout"] / best["baseline"], 3),
        "rejected": {name: sum(v is not None for v in values) for name, values in verdicts.items()},
        "rows with another verdict": len(differ),
        "first of them": [(verdicts["baseline"][i], verdicts["this checkout"][i]) for i in differ[:5]],
    }
