"""How the expected hardware cost enters the architecture loss (REFERENCE A4)."""

from __future__ import annotations

import math

from torch import Tensor

FORMS = ("mul_log", "add_linear", "none")


class HardwareCostLoss:
    """Combine cross-entropy with the expected cost E[C] and a target T.

    - `mul_log` (the original code's default): scale * CE * (log E[C] / log T) ** exponent
    - `add_linear`: CE + weight * (E[C] - T) / T
    - `none`: CE alone (the search ignores hardware)

    Args:
        form: one of `mul_log`, `add_linear`, `none`.
        target: T, in the cost model's unit.
        scale / exponent: of `mul_log` (0.2 and 0.3 by default).
        weight: of `add_linear` (0.1 by default).
    """

    def __init__(
        self,
        form: str = "mul_log",
        target: float = 80.0,
        scale: float = 0.2,
        exponent: float = 0.3,
        weight: float = 0.1,
    ) -> None:
        if form not in FORMS:
            raise ValueError(f"unknown cost_loss.form {form!r}; choose one of {FORMS}")
        if target <= 0 or (form == "mul_log" and target <= 1):
            raise ValueError(
                f"cost_loss.target={target} is invalid for form {form!r}: mul_log needs T > 1 "
                "(it divides by log T); add_linear needs T > 0. For tiny networks priced in "
                "MMACs, use a smaller unit (hardware.cost_model.unit=kMACs)"
            )
        self.form, self.target = form, float(target)
        self.scale, self.exponent, self.weight = scale, exponent, weight

    def __call__(self, ce: Tensor, expected_cost: Tensor) -> Tensor:
        if self.form == "none":
            return ce
        if self.form == "add_linear":
            return ce + self.weight * (expected_cost - self.target) / self.target
        # E[C] <= 1 makes log E[C] <= 0 and the power NaN; the search reports it as such.
        ratio = expected_cost.log() / math.log(self.target)
        return self.scale * ce * ratio**self.exponent
