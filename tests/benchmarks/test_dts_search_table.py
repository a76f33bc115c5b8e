"""benchmarks/dts_search.py's summary: normalised throughput per round against the arm's own
L = 0, the model beside it, and a refusal when the ranks derived different architectures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import dts_search  # noqa: E402


def _fit(
    rank: int,
    latency: float,
    arm: str,
    step_s: float,
    delay: int = 0,
    paths: list[int] | None = None,
) -> dict:
    return {
        "rank": rank,
        "round": 0,
        "latency_ms": latency,
        "arm": arm,
        "delay": delay,
        "shared_delay": -(-delay // 5),
        "every": 5,
        "step_s": [step_s] * 4,
        "wait_s": [step_s - 0.2] * 4,
        "paths": paths or [0, 1],
    }


def _records(paths_rank1: list[int] | None = None) -> list[dict]:
    records = []
    for rank in (0, 1):
        paths = paths_rank1 if rank == 1 and paths_rank1 else None
        records += [
            _fit(rank, 0.0, "ssgd", 0.2),
            _fit(rank, 500.0, "ssgd", 0.8, paths=paths),
            _fit(rank, 0.0, "delay", 0.2),
            _fit(rank, 500.0, "delay", 0.25, delay=3),
        ]
    return records


def test_normalised_throughput_and_the_model() -> None:
    rows = {(r["arm"], r["latency_ms"]): r for r in dts_search.summarise(_records(), [0.0, 500.0])}
    ssgd, delay = rows[("ssgd", 500.0)], rows[("delay", 500.0)]
    assert ssgd["normalised"] == pytest.approx(0.25)
    # c = 0.2 s; L = 0.5 s paid 1 + 1/5 times a step: 0.2 / (0.2 + 0.6)
    assert ssgd["model"] == pytest.approx(0.25)
    assert delay["normalised"] == pytest.approx(0.8) and delay["shared_delay"] == 1
    assert delay["model"] == 1.0  # 3 x 0.2 s >= 0.5 s: hidden
    assert delay["wait_ms"] == pytest.approx(50.0)


def test_ranks_that_derived_different_architectures_fail_the_benchmark() -> None:
    with pytest.raises(SystemExit, match="different architectures in ssgd at 500 ms"):
        dts_search.summarise(_records(paths_rank1=[1, 1]), [0.0, 500.0])
