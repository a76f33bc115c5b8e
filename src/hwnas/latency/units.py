"""Latency units. Tables store ms; a search may price in us, where a network is so small that
its latency in ms is below 1 (the mul_log form needs costs above 1)."""

from __future__ import annotations

LATENCY_UNITS = {"ms": 1.0, "us": 1000.0}


def ms_to(unit: str) -> float:
    """The factor from ms to `unit`."""
    if unit not in LATENCY_UNITS:
        raise ValueError(f"unknown latency unit {unit!r}; choose one of {list(LATENCY_UNITS)}")
    return LATENCY_UNITS[unit]
