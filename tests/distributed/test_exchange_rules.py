"""The update rules of DTS on two gloo processes (REFERENCE B1, B2, B6): the delayed update's
invariant and what draining gives, delay 0 as synchronous SGD, the no-correction ablation, the
sparse update against torch's PeriodicModelAverager, with a delay, and with DiLoCo's outer step."""

from __future__ import annotations

import pytest
import torch


def test_replicas_differ_by_their_last_t_gradients_and_agree_after_draining(scenario) -> None:
    r0, r1 = scenario("delayed_t3")
    assert r0["in_flight"] == 3
    a, b = r0["replicas"]
    assert (a - b).abs().max() > 1e-3  # mid-run the replicas really differ ...
    s0, s1 = r0["shared"]
    assert (s0 - s1).abs().max() < 1e-7  # ... by exactly -lr x their last t gradients
    d0, d1 = r0["drained"]
    assert torch.equal(d0, d1)  # drained: one model, ...
    # ... and for plain SGD the weight that applying every pending correction gives
    assert (d0 - r0["corrected"]).abs().max() < 1e-6
    assert (d0 - r1["corrected"]).abs().max() < 1e-6


def test_delay_zero_is_synchronous_sgd_to_the_bit(scenario) -> None:
    delayed = scenario("delayed_t0")
    reference = scenario("synchronous_reference")
    for rank in (0, 1):
        assert torch.equal(delayed[rank]["weights"], reference[rank])


def test_without_the_correction_replicas_apply_only_stale_averages(scenario) -> None:
    ablation, _ = scenario("ablation_t3")
    corrected, _ = scenario("delayed_t3")
    a, b = ablation["replicas"]
    assert torch.equal(a, b)  # only global averages were ever applied ...
    assert (a - corrected["drained"][0]).abs().max() > 1e-3  # ... and they lag behind
    reference, _ = scenario("stale_reference_t3")
    assert (a - reference).abs().max() < 1e-7  # ... by exactly t steps


def test_period_4_without_delay_is_periodic_model_averaging(scenario) -> None:
    ours = scenario("periodic_p4_t0")
    torch_averager = scenario("averager_p4")
    for rank in (0, 1):
        assert (ours[rank]["weights"] - torch_averager[rank]).abs().max() < 1e-6
    a, b = ours[0]["replicas"]
    assert (a - b).abs().max() < 1e-6  # step 12 ended a window: the replicas were just averaged


def test_period_4_with_delay_2_is_one_model_after_draining(scenario) -> None:
    r0, _ = scenario("periodic_p4_t2")
    a, b = r0["replicas"]
    assert (a - b).abs().max() > 1e-3  # local progress and a delta in flight
    d0, d1 = r0["drained"]
    assert (d0 - d1).abs().max() < 1e-6  # equal up to float rounding, before any averaging


def test_outer_nesterov_step_is_diloco(scenario) -> None:
    ours = scenario("outer_p3_t0")
    reference = scenario("diloco_p3")
    for rank in (0, 1):
        assert (ours[rank]["weights"] - reference[rank]).abs().max() < 1e-5


def test_outer_step_with_a_delay_keeps_the_local_progress_made_in_flight(scenario) -> None:
    ours = scenario("outer_p3_t2")
    reference = scenario("delayed_diloco_p3_t2")
    for rank in (0, 1):
        assert (ours[rank]["weights"] - reference[rank]).abs().max() < 1e-5


def test_a_drain_averages_the_open_window_without_an_outer_step(scenario) -> None:
    """The outer momentum must not move the weights at a sync point: the open window is
    averaged, and an average of zero deltas changes nothing."""
    for rank in (0, 1):
        result = scenario("diloco_drain_still_window")[rank]
        assert (result["after"] - result["before"]).abs().max() < 1e-6


def test_ranks_with_different_settings_are_refused_on_every_rank(scenario) -> None:
    for message in scenario("mismatched_settings"):
        assert "different DTS settings" in message
        assert "rank 0: delay=4" in message and "rank 1: delay=5" in message


def test_sparse_gradients_touch_only_what_was_sampled_now_or_t_steps_before(scenario) -> None:
    """A search samples a (step 0), b (step 1), nothing (step 2), ...: with t = 1 a parameter
    gets a gradient at step k only if it was sampled at step k or at step k - 1 (the
    correction), so the optimiser leaves the other candidates alone."""
    r0, r1 = scenario("sampled_paths_t1")
    expected = [
        (True, False),
        (True, True),
        (False, True),
        (True, False),
        (True, True),
        (False, True),
    ]
    assert r0["present"] == r1["present"] == expected
    # step 1: a was not sampled, so its gradient is the correction alone: gbar(0) - g_j(0)
    # (rank 0 sent 1, rank 1 sent 2: the average is 1.5)
    assert torch.equal(r0["a_grads"][1], torch.full((2,), 0.5))
    assert torch.equal(r1["a_grads"][1], torch.full((2,), -0.5))


def test_shared_parameters_stay_identical_and_apply_the_average_t_steps_late(scenario) -> None:
    """A search's alphas under DTS: nothing is applied while m < t (Adam skips them), then the
    average of step m - t; every replica holds the same values at every step, the ones the
    written-out reference gives, and a sync point keeps the t averages still due."""
    r0, r1 = scenario("shared_t2")
    reference, _ = scenario("shared_reference_t2")
    assert r0["stepped"] == [False, False] + [True] * 5
    for a, b in r0["replicas"]:
        assert torch.equal(a, b)
    assert torch.equal(r0["weights"], reference)
    assert r0["pending"] == r1["pending"] == 2


@pytest.mark.parametrize("compress, unit", [("bf16", 2.0**-8), ("fp16", 2.0**-11)])
def test_a_16_bit_exchange_moves_half_the_bytes_and_loses_nothing_over_time(
    scenario, compress: str, unit: float
) -> None:
    """Each average is the full-precision one within 16-bit rounding; with error feedback what a
    rank sent sums, over the steps, to what it meant to send within one step's rounding (the
    residual it still carries), where plain rounding would add up step after step."""
    for rank, result in enumerate(scenario(f"compressed_{compress}")):
        exact, half = result["exact"], result["half"]
        scale = exact.abs().amax(dim=1, keepdim=True)
        assert ((half - exact).abs() <= 4 * unit * scale).all()
        gap = result["sent_sum"] - result["meant_sum"]  # the residual is of x / 2, per rank
        torch.testing.assert_close(gap, -2 * result["residual"], rtol=0, atol=1e-3)
        per_value = 1 + rank  # the scale of this rank's values
        assert gap.abs().max() <= unit * 4 * per_value  # one rounding, not one per step
        full, halved = result["bytes"]
        assert halved * 2 == full


def test_the_delayed_update_in_bf16_follows_the_full_precision_one(scenario) -> None:
    full, half = scenario("delayed_t2_full"), scenario("delayed_t2_bf16")
    for rank in (0, 1):
        assert (full[rank]["weights"] - half[rank]["weights"]).abs().max() < 1e-3
    # the model a sync point leaves
    assert (full[0]["drained"][0] - half[0]["drained"][0]).abs().max() < 1e-3


def test_the_sparse_update_in_bf16_follows_the_full_precision_one(scenario) -> None:
    full, half = scenario("periodic_p4_t2_outer"), scenario("periodic_p4_t2_bf16")
    for rank in (0, 1):
        assert (full[rank]["weights"] - half[rank]["weights"]).abs().max() < 1e-3
    d0, d1 = half[0]["drained"]
    assert (d0 - d1).abs().max() < 1e-3  # one model after draining, up to the residuals
