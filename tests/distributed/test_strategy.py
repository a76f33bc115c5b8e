"""DTSStrategy inside Lightning on two gloo processes: delay 0 against Lightning's DDP, delay 3
against delay 0 when the ranks read the same batches, a resumed run against the unbroken one,
and one model at the end of every run."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def arms(dts_fits: dict[str, dict[str, list[dict]]]) -> dict[str, list[dict]]:
    """Every arm of lightning_worker.py: what rank 0 and rank 1 saved."""
    return dts_fits["train"]


def test_delay_zero_period_one_gives_ddp_weights_to_the_bit(arms) -> None:
    ddp, dts = arms["ddp"][0]["params"], arms["dts_t0"][0]["params"]
    assert ddp.keys() == dts.keys()
    for name in ddp:
        assert torch.equal(ddp[name], dts[name]), name


def test_no_collective_on_the_default_group_between_batches_under_dts(arms) -> None:
    """Lightning's DDP broadcasts a SIGTERM flag before every batch; on a delayed link that
    costs a latency a step, so DTS checks the flag locally."""
    assert set(arms["ddp"][0]["broadcasts_between_batches"]) == {1}
    for arm in ("dts_t0", "unbroken", "sparse"):
        for rank in (0, 1):
            between = arms[arm][rank]["broadcasts_between_batches"]
            assert between and set(between) == {0}, (arm, rank, between)


def test_a_warmup_as_long_as_the_run_is_synchronous_sgd_to_the_bit(arms) -> None:
    """dts.delay=3 configured, but every step inside dts.sync_warmup_steps: the t = 0 weights."""
    sync, warm = arms["dts_t0"][0]["params"], arms["warmup_all"][0]["params"]
    assert arms["warmup_all"][0]["warmup_pending"]
    assert not arms["warmup_sparse"][0]["warmup_pending"]  # 4 of 10 steps, then sparse
    for name in sync:
        assert torch.equal(sync[name], warm[name]), name


def test_with_the_same_batches_on_every_rank_the_delayed_update_is_synchronous_sgd(arms) -> None:
    """When every rank reads the same batches, gbar(k - t) = g_j(k - t), so the corrected
    gradient is g_j(k): t = 3 must give t = 0's weights, BatchNorm statistics and EMA (to float
    rounding) through Nesterov momentum, weight decay, the schedule, mixup and the sync points.
    Every step moves the replicas' mean by the average gradient, as synchronous SGD does (the
    corrections average out); DTS differs from it only because each replica takes its gradient
    at its own point, which different data sets apart. The stale average alone (no correction)
    runs 3 steps behind, and ends far off."""
    sync, delayed = arms["same_data_t0"][0]["state"], arms["same_data_t3"][0]["state"]
    stale = arms["same_data_stale"][0]["state"]
    floats = [k for k, v in sync.items() if v.is_floating_point()]
    for name in floats:
        torch.testing.assert_close(delayed[name], sync[name], rtol=1e-5, atol=1e-5, msg=name)
    assert max(float((stale[k] - sync[k]).abs().max()) for k in floats) > 1e-2


def test_each_sync_point_reports_how_far_the_replicas_had_drifted(arms) -> None:
    """Every epoch's validation is a sync point. The drift is 0 under synchronous SGD (the
    replicas never differ) and when the ranks read the same batches, clearly more with a delay
    of 3 or the sparse update on different data (less there: its replicas meet every 3 steps).
    Under the delayed update the ranks agree on
    the replicas' average, so both lie equally far from it (the sparse update's outer Nesterov
    step moves the agreed model off the average); a resumed run reports its own sync points."""
    cases = {
        "dts_t0": ([5], 0.0, 0.0),
        "same_data_t3": ([5, 10], 0.0, 0.0),
        "unbroken": ([5, 10], 1e-3, 0.5),
        "sparse": ([5, 10], 1e-4, 0.5),
        "resumed": ([10], 1e-3, 0.5),
    }
    for arm, (steps, low, high) in cases.items():
        rank0, rank1 = (rank["spreads"] for rank in arms[arm])
        assert [step for step, _ in rank0] == [step for step, _ in rank1] == steps, (arm, rank0)
        for (_, spread), (_, other) in zip(rank0, rank1, strict=True):
            assert low <= spread <= high and low <= other <= high, (arm, rank0, rank1)
            if arm != "sparse":
                assert abs(spread - other) <= 1e-6 * max(spread, 1e-9), (arm, rank0, rank1)
    assert arms["resumed"][0]["spreads"][-1] == arms["unbroken"][0]["spreads"][-1]


@pytest.mark.parametrize("arm", ["dts_t0", "unbroken", "resumed", "sparse", "warmup_sparse"])
def test_every_run_ends_as_one_model(arms, arm: str) -> None:
    """Parameters, BatchNorm statistics, the EMA and the optimiser's momentum."""
    for part in ("state", "optimizer"):
        rank0, rank1 = (r[part] for r in arms[arm])
        assert rank0, part
        for name, value in rank0.items():
            assert torch.equal(value, rank1[name]), (
                f"{arm}: {part} {name} differs between the ranks"
            )
            if value.is_floating_point():
                assert torch.isfinite(value).all(), name


def test_resumed_run_equals_the_unbroken_run(arms) -> None:
    assert arms["broken"][0]["epoch"] == 1  # stopped after the first of two epochs
    unbroken, resumed = arms["unbroken"][0]["state"], arms["resumed"][0]["state"]
    moved = max(
        float((v - arms["dts_t0"][0]["state"][k]).abs().max())
        for k, v in unbroken.items()
        if v.is_floating_point()
    )
    assert moved > 1e-3
    for name, value in unbroken.items():
        assert torch.equal(resumed[name], value), name
