"""Runs every engine scenario (scenarios.py) once on two gloo processes for this folder's tests."""

from __future__ import annotations

from typing import Any

import pytest
from rank_launcher import run_ranks
from scenarios import run_all


@pytest.fixture(scope="session")
def two_ranks() -> list[dict[str, Any]]:
    """Every scenario's result on rank 0 and on rank 1."""
    return run_ranks(run_all, timeout_s=60)


@pytest.fixture
def scenario(two_ranks: list[dict[str, Any]]):
    """`scenario(name)`: (rank 0's result, rank 1's result), failing with the traceback if the
    scenario raised."""

    def get(name: str) -> tuple[Any, Any]:
        results = tuple(r[name] for r in two_ranks)
        for r in results:
            if isinstance(r, dict) and "error" in r:
                pytest.fail(f"scenario {name} raised:\n{r['error']}")
        return results

    return get
