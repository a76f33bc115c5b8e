"""Latency units. Tables store ms; a search may price in us, where a network is so small that
its latency in ms is below 1 (the mul_log form needs costs above 1). And how long a
measurement takes, as a person reads it."""

from __future__ import annotations

LATENCY_UNITS = {"ms": 1.0, "us": 1000.0}


def ms_to(unit: str) -> float:
    """The factor from ms to `unit`."""
    if unit not in LATENCY_UNITS:
        raise ValueError(f"unknown latency unit {unit!r}; choose one of {list(LATENCY_UNITS)}")
    return LATENCY_UNITS[unit]


def duration(seconds: float) -> str:
    """`seconds` as `0.3 s`, `20 s`, `4.5 min` or `1.2 h`."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
