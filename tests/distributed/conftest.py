"""Runs every engine scenario (scenarios.py) once on two gloo processes for this folder's tests,
and every Lightning fit of test_strategy.py and test_search.py in one torchrun; puts a virtual
clock under the emulated link where a test asks for one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import search_worker
from lightning_worker import ARMS as TRAIN_ARMS
from link_scenarios import ON_THE_HOSTS_CLOCK
from rank_launcher import run_arms, run_ranks
from scenarios import run_all
from virtual_clock import VirtualClock

from hwnas.distributed import link


@pytest.fixture(scope="session")
def two_ranks() -> list[dict[str, Any]]:
    """Every scenario's result on rank 0 and on rank 1."""
    return run_ranks(run_all, timeout_s=60)


@pytest.fixture(scope="session")
def two_ranks_on_the_hosts_clock() -> list[dict[str, Any]]:
    """The link's scenarios on the host's clock (for slow tests only): results by rank."""
    return run_ranks(run_all, ON_THE_HOSTS_CLOCK, timeout_s=60)


@pytest.fixture(scope="session")
def dts_fits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[dict]]]:
    """`dts_fits[kind][arm]`: what both ranks saved after each arm of lightning_worker.py
    (kind "train") and search_worker.py ("search")."""
    arms = [f"train/{a}" for a in TRAIN_ARMS] + [f"search/{a}" for a in search_worker.ARMS]
    saved = run_arms(
        Path(__file__).with_name("fits_worker.py"), tmp_path_factory.mktemp("fits"), arms
    )
    fits: dict[str, dict[str, list[dict]]] = {"train": {}, "search": {}}
    for arm, ranks in saved.items():
        kind, name = arm.split("/")
        fits[kind][name] = ranks
    return fits


def _getter(by_rank: list[dict[str, Any]]):
    def get(name: str) -> tuple[Any, Any]:
        results = tuple(r[name] for r in by_rank)
        for r in results:
            if isinstance(r, dict) and "error" in r:
                pytest.fail(f"scenario {name} raised:\n{r['error']}")
        return results

    return get


@pytest.fixture
def scenario(two_ranks: list[dict[str, Any]]):
    """`scenario(name)`: (rank 0's result, rank 1's result), failing with the traceback if the
    scenario raised."""
    return _getter(two_ranks)


@pytest.fixture
def scenario_on_the_hosts_clock(two_ranks_on_the_hosts_clock: list[dict[str, Any]]):
    """`scenario(name)` of the link's scenarios run on the host's clock."""
    return _getter(two_ranks_on_the_hosts_clock)


@pytest.fixture
def virtual_clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    """The clock every link and step timer made during the test reads (`link.CLOCK`)."""
    clock = VirtualClock()
    monkeypatch.setattr(link, "CLOCK", clock)
    return clock
