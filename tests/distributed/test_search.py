"""`search.py distributed=dts` on two gloo processes: delay 0 against Lightning's DDP, the same
paths on every rank under a delay, one model at the end, and a resumed search against the
unbroken one."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def arms(dts_fits: dict[str, dict[str, list[dict]]]) -> dict[str, list[dict]]:
    """Every arm of search_worker.py: what rank 0 and rank 1 saved."""
    return dts_fits["search"]


def _parameters(run: dict) -> dict[str, torch.Tensor]:
    """Weights and alphas; not BatchNorm statistics, which DDP takes from rank 0 at every
    forward and DTS averages at sync points."""
    return {k: v for k, v in run["state"].items() if "running_" not in k and "num_batches" not in k}


def test_delay_zero_gives_ddp_weights_alphas_and_optimiser_state_to_the_bit(arms) -> None:
    ddp, dts = arms["ddp"][0], arms["dts_t0"][0]
    assert ddp["paths"] == dts["paths"]
    for name, value in _parameters(ddp).items():
        assert torch.equal(value, dts["state"][name]), name
    assert ddp["optimizer"].keys() == dts["optimizer"].keys()  # SGD's and Adam's state
    for name, value in ddp["optimizer"].items():
        assert torch.equal(value, dts["optimizer"][name]), name


@pytest.mark.parametrize("arm", ["unbroken", "sparse"])
def test_under_a_delay_every_rank_samples_the_same_paths(arms, arm: str) -> None:
    """The alphas are kept identical on every rank (their average gradient arrives 2, or 1,
    architecture steps late), so the shared path generator draws the same path everywhere
    while the weights drift apart between sync points."""
    rank0, rank1 = arms[arm]
    assert rank0["shared_delay"] == {"unbroken": 2, "sparse": 1}[arm]  # an arch step a batch
    assert len(rank0["paths"]) == 10 and rank0["paths"] == rank1["paths"]
    assert len({tuple(p) for p in rank0["paths"]}) > 1  # it did sample different paths
    assert all(spread > 1e-4 for _, spread in rank0["spreads"])  # 0 under synchronous SGD
    moved = [
        float((a - b).abs().max())
        for a, b in zip(rank0["alphas"], arms["dts_t0"][0]["alphas"], strict=True)
    ]
    assert max(moved) > 1e-2  # the alphas moved on from the one-epoch run


@pytest.mark.parametrize("arm", ["dts_t0", "unbroken", "broken", "resumed", "sparse"])
def test_every_search_ends_as_one_model(arms, arm: str) -> None:
    """Weights, alphas, BatchNorm statistics (re-estimated on each rank's own batches at every
    validation, then averaged again before the checkpoint), SGD's momentum and Adam's moments."""
    for part in ("state", "optimizer"):
        rank0, rank1 = (r[part] for r in arms[arm])
        assert rank0, part
        for name, value in rank0.items():
            assert torch.equal(value, rank1[name]), f"{arm}: {part} {name} differs"


def test_resumed_search_equals_the_unbroken_one(arms) -> None:
    """The checkpoint holds one model and the alphas' averages still due."""
    assert arms["broken"][0]["epoch"] == 1
    unbroken, resumed = arms["unbroken"][0], arms["resumed"][0]
    assert resumed["paths"] == unbroken["paths"][5:]
    for part in ("state", "optimizer"):
        for name, value in unbroken[part].items():
            assert torch.equal(resumed[part][name], value), f"{part} {name}"
