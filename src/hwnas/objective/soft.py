"""The soft hardware terms (REFERENCE A4): the expected cost E[C] pulls the architecture loss
toward a target T without bounding it.

- `mul_log` (the original code's default): scale * CE * (log E[C] / log T) ** exponent
- `add_linear`: CE + weight * (E[C] - T) / T
- `none`: CE alone (the search ignores hardware)

Each is a `cost_loss=` choice (conf/cost_loss/); a REINFORCE search rewards a net of cost LAT
with ACC x (LAT / T)^w (REFERENCE A3), or ACC alone under `none`.
"""

from __future__ import annotations

import math
from typing import ClassVar

from torch import Tensor

from hwnas.cost.model import ExpectedCost
from hwnas.objective.base import CostObjective
from hwnas.objective.target import GEOMETRIC_MEAN, resolve_target, smaller_unit_fix


class SoftCostLoss(CostObjective):
    """A soft term with target T.

    Args:
        target: T in the cost model's unit; None: the geometric mean of the space's cheapest
            and dearest architecture, fixed by `bind`.
    """

    least_target: ClassVar[float] = 0.0  # T must be above it

    def __init__(self, target: float | None = None) -> None:
        self.target = None if target is None else float(target)

    def bind(self, expected: ExpectedCost, hardware: str) -> SoftCostLoss:
        given = self.target
        self.target = resolve_target(given, expected, hardware)
        if self.target <= self.least_target:
            origin = "cost_loss.target" if given is not None else GEOMETRIC_MEAN
            raise ValueError(self.target_error(self.target, origin, expected.unit))
        return self

    def target_error(self, target: float, origin: str, unit: str | None) -> str:
        """Why T = `target` (from `origin`, in `unit`) does not suit this form, and the fix."""
        return (
            f"cost_loss={self.form} needs a target above {self.least_target:g}, and T is "
            f"{target:.3g}{f' {unit}' if unit else ''} ({origin}): give cost_loss.target=... "
            "above it, or null for the geometric mean of the space's cheapest and dearest net"
        )

    def reward(self, accuracy: float, cost: float, exponent: float, hard_exponent: float) -> float:
        """R = ACC x (LAT / T)^w (REFERENCE A3)."""
        return accuracy * (cost / self.target) ** exponent


class MulLogLoss(SoftCostLoss):
    """scale * CE * (log E[C] / log T) ** exponent (REFERENCE A4).

    Args:
        target: T (above 1: the loss divides by log T).
        scale / exponent: of the product (0.2 and 0.3, the original code's).
    """

    form = "mul_log"
    least_target = 1.0

    def __init__(
        self, target: float | None = None, scale: float = 0.2, exponent: float = 0.3
    ) -> None:
        super().__init__(target)
        self.scale, self.exponent = scale, exponent

    def __call__(self, ce: Tensor, expected_cost: Tensor) -> Tensor:
        # E[C] <= 1 makes log E[C] <= 0 and the power NaN; the search reports it as such.
        ratio = expected_cost.log() / math.log(self.target)
        return self.scale * ce * ratio**self.exponent

    def target_error(self, target: float, origin: str, unit: str | None) -> str:
        return (
            "cost_loss=mul_log divides by log T, so it needs a target above 1, and T is "
            f"{target:.3g}{f' {unit}' if unit else ''} ({origin}): {smaller_unit_fix(unit)}, or "
            "use cost_loss=add_linear"
        )


class AddLinearLoss(SoftCostLoss):
    """CE + weight * (E[C] - T) / T (REFERENCE A4).

    Args:
        target: T (above 0).
        weight: of the cost term (0.1).
    """

    form = "add_linear"

    def __init__(self, target: float | None = None, weight: float = 0.1) -> None:
        super().__init__(target)
        self.weight = weight

    def __call__(self, ce: Tensor, expected_cost: Tensor) -> Tensor:
        return ce + self.weight * (expected_cost - self.target) / self.target


class NoCostLoss(SoftCostLoss):
    """CE alone: the search ignores hardware. T is still resolved, for the summary.

    Args:
        target: T (above 0), reported only.
    """

    form = "none"

    def __call__(self, ce: Tensor, expected_cost: Tensor) -> Tensor:
        return ce

    def reward(self, accuracy: float, cost: float, exponent: float, hard_exponent: float) -> float:
        """R = ACC."""
        return accuracy


SOFT_FORMS: dict[str, type[SoftCostLoss]] = {
    cls.form: cls for cls in (MulLogLoss, AddLinearLoss, NoCostLoss)
}


def HardwareCostLoss(
    form: str = "mul_log",
    target: float = 80.0,
    scale: float = 0.2,
    exponent: float = 0.3,
    weight: float = 0.1,
) -> SoftCostLoss:
    """The soft term of `form` with target T = `target`, for code that names the form as a
    string; `scale` and `exponent` apply to `mul_log`, `weight` to `add_linear`."""
    if form not in SOFT_FORMS:
        raise ValueError(f"unknown cost loss form {form!r}; choose one of {tuple(SOFT_FORMS)}")
    settings = {"mul_log": {"scale": scale, "exponent": exponent}, "add_linear": {"weight": weight}}
    loss = SOFT_FORMS[form](target, **settings.get(form, {}))
    if loss.target <= loss.least_target:
        raise ValueError(loss.target_error(loss.target, "cost_loss.target", None))
    return loss
