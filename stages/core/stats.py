"""Small statistics for review estimates."""

from __future__ import annotations

import math


def wilson_interval(failures: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a proportion; (0, 1) when nothing was observed."""
    if trials <= 0:
        return 0.0, 1.0
    p = failures / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
