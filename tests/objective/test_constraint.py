"""Hard cost target (`cost_loss=constraint cost_loss.limit=T`): dual ascent, repair and the
REINFORCE reward (the search that ends at or below T is in tests/runs)."""

from __future__ import annotations

import pytest
import torch

from hwnas.cost.flops import FlopsCostModel
from hwnas.cost.model import ExpectedCost
from hwnas.objective.constraint import CostConstraint
from hwnas.search import SuperNet


def test_multiplier_rises_while_over_and_falls_back_to_zero() -> None:
    c = CostConstraint(10.0, multiplier_lr=1.0, margin=0.0)
    c.update(expected_cost=12.0, derived_cost=11.0)
    assert c.multiplier == pytest.approx(0.2)
    c.update(expected_cost=9.0, derived_cost=11.0)  # the argmax net is still over
    assert c.multiplier == pytest.approx(0.3)
    c.update(expected_cost=5.0, derived_cost=5.0)
    assert c.multiplier == 0.0
    loss = c(torch.tensor(1.0), torch.tensor(20.0))
    assert float(loss) == 1.0  # lambda 0: plain cross-entropy


def test_repair_meets_the_limit_dropping_the_least_probable_choices(tiny_space) -> None:
    expected = ExpectedCost(FlopsCostModel("kMACs"), tiny_space)
    dearest = [int(c.argmax()) for c in expected.layer_costs]
    low, high = expected.bounds()
    limit = low + 0.5 * (high - low)
    probs = [torch.full((len(c),), 0.1).tolist() for c in expected.layer_costs]
    for p, i in zip(probs, dearest, strict=True):
        p[i] = 0.9
    repaired = CostConstraint(limit).repair(dearest, probs, expected)
    assert expected.of_paths(repaired) <= limit
    assert repaired != dearest
    assert CostConstraint(high).repair(dearest, probs, expected) == dearest  # already within


def test_infeasible_constraint_names_the_cheapest_architecture(tiny_space) -> None:
    expected = ExpectedCost(FlopsCostModel("kMACs"), tiny_space)
    low, _ = expected.bounds()
    with pytest.raises(ValueError, match=f"below the cheapest architecture.*{low:.4g}"):
        CostConstraint(low / 2).check_feasible(expected)


def test_bind_refuses_an_infeasible_limit_and_after_step_logs_the_dual_ascent(tiny_space) -> None:
    expected = ExpectedCost(FlopsCostModel("kMACs"), tiny_space)
    low, high = expected.bounds()
    with pytest.raises(
        ValueError, match=r"cost_loss.limit=.* below the cheapest.*raise cost_loss.limit"
    ):
        CostConstraint(low / 2).bind(expected, "flops")
    c = CostConstraint(low + 0.5 * (high - low), multiplier_lr=1.0, margin=0.0)
    assert c.bind(expected, "flops") is c and c.target == c.limit
    metrics = c.after_step(torch.tensor(2.0 * c.limit), lambda: 1.5 * c.limit)
    assert metrics == pytest.approx(
        {"arch/derived_cost_kMACs": 1.5 * c.limit, "arch/multiplier": 1.0}
    )
    assert c.state_dict() == {"multiplier": c.multiplier}
    fresh = CostConstraint(c.limit)
    fresh.load_state_dict(c.state_dict())
    assert fresh.multiplier == c.multiplier


def test_derive_repairs_the_argmax_of_p(tiny_space) -> None:
    expected = ExpectedCost(FlopsCostModel("kMACs"), tiny_space)
    low, high = expected.bounds()
    net = SuperNet(tiny_space)
    with torch.no_grad():
        for block, costs in zip(net.blocks, expected.layer_costs, strict=True):
            block.alpha[int(costs.argmax())] = 5.0  # p favours the dearest op everywhere
    net.invalidate_probs()
    limit = low + 0.25 * (high - low)
    derived = CostConstraint(limit).derive(net.argmax_paths(), net.cpu_probs(), expected)
    assert expected.of_paths(derived) <= limit < expected.of_paths(net.argmax_paths())


@pytest.mark.parametrize(("cost", "reward"), [(40.0, 0.8), (80.0, 0.8), (160.0, 0.4)])
def test_the_reward_rewards_no_speed_under_the_limit(cost: float, reward: float) -> None:
    assert CostConstraint(80.0).reward(0.8, cost, -0.1, -1.0) == pytest.approx(reward)


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(ValueError, match="cost_loss.limit must be a positive number"):
        CostConstraint(0.0)
    with pytest.raises(ValueError, match="cost_loss.multiplier_lr must be > 0"):
        CostConstraint(1.0, multiplier_lr=0.0)
