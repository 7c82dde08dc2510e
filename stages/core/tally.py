"""Small helpers for the per-slice figures every stage writes to metrics/."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any


def count_by(rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> dict[str, int]:
    """Counts per key, sorted by key so metrics files are stable."""
    counts = Counter(key(row) for row in rows)
    return {name: counts[name] for name in sorted(counts)}


def share(part: int, whole: int) -> float:
    """part/whole rounded for metrics; 0.0 for an empty whole."""
    return round(part / whole, 4) if whole else 0.0
