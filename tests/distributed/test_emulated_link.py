"""The emulated wide-area link (REFERENCE B4): delivery time against the latency, the
first-in-first-out bandwidth, and what latency costs a synchronous step."""

from __future__ import annotations

import statistics
import time

import pytest
import torch

from hwnas.distributed import EmulatedLink


def test_delivery_no_earlier_than_the_latency_and_within_a_millisecond(scenario) -> None:
    for result in scenario("delivery_20ms"):
        late = (result["after_latest_issue_s"] - 0.020).tolist()
        print(
            f"delivery after issue + 20 ms: median {statistics.median(late) * 1e3:.3f} ms, "
            f"max {max(late) * 1e3:.3f} ms; link's own {statistics.median(result['link_late_s']) * 1e3:.3f} ms"
        )
        assert min(late) >= 0.0
        assert statistics.median(late) <= 1e-3
        assert sorted(late)[int(0.8 * len(late))] <= 1e-3  # a shared core may delay a few


def test_link_is_first_in_first_out_at_its_bandwidth(scenario) -> None:
    for result in scenario("fifo_10ms_100mbps"):
        transfer = result["transfer_s"]
        assert transfer == pytest.approx(2 * 1 / 2 * 400_000 * 8 / 100e6)  # 2(N-1)/N bytes 8 / B
        for i, done in enumerate(result["done_s"]):
            expected = (i + 1) * transfer + 0.010  # queued behind the ones before it
            assert expected <= done <= expected + 0.005


def test_a_synchronous_step_pays_the_injected_latency(scenario) -> None:
    """L is the collective's completion latency: a synchronous step with 50 ms injected takes
    at least 50 ms longer than its compute. Against the same step at L = 0 it is 50 ms minus
    gloo's own loopback cost, which the emulated latency stands in for."""
    for rank in (0, 1):
        compute = statistics.median(scenario("compute_only")[rank][1:])
        at_zero = statistics.median(scenario("ssgd_0ms")[rank][1:])
        at_50 = statistics.median(scenario("ssgd_50ms")[rank][1:])
        print(
            f"rank {rank}: compute {compute * 1e3:.2f} ms, SSGD at 0 ms {at_zero * 1e3:.2f} ms, "
            f"at 50 ms {at_50 * 1e3:.2f} ms"
        )
        assert at_50 - compute >= 0.050
        assert at_50 - at_zero >= 0.045


def test_a_single_process_link_emulates_latency_too() -> None:
    link = EmulatedLink(latency_ms=15)
    start = time.perf_counter()
    average = link.all_reduce_mean(torch.arange(4.0)).wait()
    elapsed = time.perf_counter() - start
    assert torch.equal(average, torch.arange(4.0))
    assert 0.015 <= elapsed <= 0.025
    assert link.stats.messages == 1 and link.stats.payload_bytes == 16


def test_bad_link_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="latency_ms"):
        EmulatedLink(latency_ms=-1)


def _collective_beside_exchanges(rank: int, channels: int, messages: int) -> list[int]:
    """Rank 0 has `messages` exchanges in flight when it broadcasts on the default group; rank 1
    joins the broadcast first and sends its exchanges afterwards. If the broadcast waited behind
    the exchanges, neither rank could go on (a deadlock until the group's timeout)."""
    import torch.distributed as dist

    link = EmulatedLink(channels=channels, timeout_s=20)
    flag = torch.tensor([7 if rank == 0 else 0])
    if rank == 0:
        sent = [link.all_reduce_mean(torch.full((4,), float(i))) for i in range(messages)]
        dist.broadcast(flag, src=0)
    else:
        dist.broadcast(flag, src=0)
        sent = [link.all_reduce_mean(torch.full((4,), float(i))) for i in range(messages)]
    averages = [int(m.wait()[0]) for m in sent]
    return [int(flag), *averages, len({id(g) for g in link.channels})]


def test_exchanges_in_flight_hold_up_neither_each_other_nor_the_default_group() -> None:
    """A gloo group runs at most two collectives at once, in order: exchanges travel over
    process groups of their own, so three can be in flight while Lightning's collectives on
    the default group go through."""
    from rank_launcher import run_ranks

    for result in run_ranks(_collective_beside_exchanges, 3, 3, timeout_s=20):
        assert result == [7, 0, 1, 2, 3]  # the broadcast arrived, each exchange its own average
