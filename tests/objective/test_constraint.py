"""Hard cost target (`latency.constraint=T`): dual ascent and repair (the search that ends at
or below T is in tests/runs)."""

from __future__ import annotations

import pytest
import torch

from hwnas.cost.flops import FlopsCostModel
from hwnas.cost.model import ExpectedCost
from hwnas.objective.constraint import CostConstraint


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
