"""Agreement between predicted and measured latency: % errors, rank correlation and the
linear correction (fixed overhead + slope) that maps a table's sum to end-to-end latency."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b (ties in either sequence handled), O(n^2): n is a few hundred at most."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("kendall_tau needs two sequences of the same length >= 2")
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    denom = math.sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b))
    return (concordant - discordant) / denom if denom else 0.0


def fit_linear(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares (intercept, slope) of y = intercept + slope * x."""
    n = len(x)
    if n < 2:
        raise ValueError("a linear fit needs at least 2 points")
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((xi - mx) ** 2 for xi in x)
    if sxx == 0:
        return my - mx, 1.0  # all predictions equal: keep the slope, fit the offset
    slope = sum((xi - mx) * (yi - my) for xi, yi in zip(x, y, strict=True)) / sxx
    return my - slope * mx, slope


@dataclass(frozen=True)
class Agreement:
    """How well `predicted` matches `measured` on a set of architectures."""

    n: int
    mean_abs_pct_error: float
    within_5pct: float
    within_10pct: float
    kendall_tau: float

    @classmethod
    def of(cls, predicted: Sequence[float], measured: Sequence[float]) -> Agreement:
        errors = [abs(p - m) / m for p, m in zip(predicted, measured, strict=True)]
        n = len(errors)
        return cls(
            n=n,
            mean_abs_pct_error=100 * sum(errors) / n,
            within_5pct=sum(e <= 0.05 for e in errors) / n,
            within_10pct=sum(e <= 0.10 for e in errors) / n,
            kendall_tau=kendall_tau(predicted, measured),
        )
