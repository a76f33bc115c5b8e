"""The soft target T of a search: the one given, or the geometric mean of the cheapest and the
dearest architecture of its space."""

from __future__ import annotations

import math

from hwnas.cost.model import ExpectedCost

# The unit one step smaller than each unit, for nets that cost under 1 of it (mul_log needs T > 1)
SMALLER_UNIT = {"ms": "us", "GMACs": "MMACs", "MMACs": "kMACs", "kMACs": "MACs"}
GEOMETRIC_MEAN = "the geometric mean of the space's cheapest and dearest net"


def resolve_target(given: float | None, expected: ExpectedCost, hardware: str) -> float:
    """`given`, or for None sqrt(C_min x C_max) of the space priced by `expected`; refuses a
    cost model that prices every architecture at zero (no target can be made of it)."""
    low, high = expected.bounds()
    if high <= 0:
        raise ValueError(
            f"every architecture of the space costs {high:g} {expected.unit} on "
            f"hardware={hardware}: the cost model prices every op at zero (an empty or all-zero "
            "latency table?); rebuild it (hardware.cost_model.rebuild=true) or give a table with "
            "timings (hardware.table=...)"
        )
    return float(given) if given is not None else math.sqrt(max(low, 1e-12) * high)


def smaller_unit_fix(unit: str | None) -> str:
    """How to price costs in a smaller unit than `unit`."""
    if unit in SMALLER_UNIT:
        return (
            f"price costs in {SMALLER_UNIT[unit]} (hardware.cost_model.unit={SMALLER_UNIT[unit]})"
        )
    return "price costs in a smaller unit"
