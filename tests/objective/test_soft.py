"""The soft hardware terms (REFERENCE A4): their values, the target `bind` resolves and the
targets it refuses, and their REINFORCE reward (REFERENCE A3)."""

from __future__ import annotations

import math

import pytest
import torch

from hwnas.cost.flops import FlopsCostModel
from hwnas.cost.model import ExpectedCost
from hwnas.objective import (
    SMALLER_UNIT,
    AddLinearLoss,
    HardwareCostLoss,
    MulLogLoss,
    NoCostLoss,
)


def test_the_forms_and_the_factory_that_names_them() -> None:
    ce, cost = torch.tensor(2.0), torch.tensor(160.0)
    assert float(MulLogLoss(80.0)(ce, cost)) == pytest.approx(
        0.2 * 2 * (math.log(160) / math.log(80)) ** 0.3
    )
    assert float(AddLinearLoss(80.0, weight=0.5)(ce, cost)) == pytest.approx(2.0 + 0.5)
    assert float(NoCostLoss(80.0)(ce, cost)) == 2.0
    assert type(HardwareCostLoss("add_linear", 80.0)) is AddLinearLoss
    assert HardwareCostLoss("mul_log", 80.0, exponent=0.5).exponent == 0.5
    with pytest.raises(ValueError, match="unknown cost loss form 'quadratic'"):
        HardwareCostLoss("quadratic", 80.0)


@pytest.mark.parametrize("form", [MulLogLoss, AddLinearLoss, NoCostLoss])
def test_bind_takes_the_given_target_or_the_geometric_mean(tiny_space, form) -> None:
    expected = ExpectedCost(FlopsCostModel("kMACs"), tiny_space)
    low, high = expected.bounds()
    assert form().bind(expected, "flops").target == pytest.approx(math.sqrt(low * high))
    assert form(1.5 * high).bind(expected, "flops").target == 1.5 * high


def test_mul_log_under_one_names_the_smaller_unit(tiny_space) -> None:
    expected = ExpectedCost(FlopsCostModel("MMACs"), tiny_space)  # the tiny space: < 1 MMAC
    assert expected.bounds()[1] < 1
    with pytest.raises(
        ValueError,
        match=r"cost_loss=mul_log divides by log T.*MMACs \(the geometric mean of the space's "
        rf"cheapest and dearest net\): price costs in {SMALLER_UNIT['MMACs']} .*cost_loss=add_linear",
    ):
        MulLogLoss().bind(expected, "flops")
    with pytest.raises(ValueError, match=r"T is 0.5 MMACs \(cost_loss.target\)"):
        MulLogLoss(0.5).bind(expected, "flops")
    assert AddLinearLoss().bind(expected, "flops").target < 1  # any scale
    with pytest.raises(ValueError, match="cost_loss=add_linear needs a target above 0"):
        AddLinearLoss(-1.0).bind(expected, "flops")


def test_a_cost_model_that_prices_everything_at_zero_is_refused(tiny_space) -> None:
    expected = ExpectedCost(FlopsCostModel("kMACs"), tiny_space)
    expected.bounds = lambda: (0.0, 0.0)
    with pytest.raises(ValueError, match="prices every op at zero.*hardware.table"):
        AddLinearLoss(2.0).bind(expected, "cpu")


def test_the_soft_reward_and_no_state() -> None:
    for loss in (MulLogLoss(80.0), AddLinearLoss(80.0)):
        assert loss.reward(0.8, 160.0, -0.1, -1.0) == pytest.approx(0.8 * 2**-0.1)
        assert loss.after_step(torch.tensor(1.0), lambda: pytest.fail("no derived cost")) == {}
        assert loss.derive([1, 0], [], None) == [1, 0] and loss.state_dict() == {}
    assert NoCostLoss(80.0).reward(0.8, 1e9, -0.1, -1.0) == 0.8
