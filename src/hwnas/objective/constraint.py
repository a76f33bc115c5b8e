"""A hard cost target: the derived architecture ends at or below a limit T (`cost_loss=constraint
cost_loss.limit=T`).

A soft penalty does not pin latency to a target (REFERENCE A4). Here the architecture loss is
the Lagrangian CE + lambda * E[C] / T, and lambda follows dual ascent on the constraint C <= T
after every architecture step, where C is the larger of the expected cost and the cost of the
current argmax architecture. Should the argmax architecture still be over T when the search
ends, `derive` swaps the fewest probable ops for cheaper ones. A REINFORCE search rewards nets
at or under T with ACC and nets over it with ACC x (LAT / T)^hard_exponent (REFERENCE A3,
MnasNet's hard setting).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor

from hwnas.cost.model import ExpectedCost, cost_metric
from hwnas.objective.base import CostObjective


class CostConstraint(CostObjective):
    """Architecture loss for `cost_loss=constraint`.

    Args:
        limit: T, in the cost model's unit.
        multiplier_lr: dual-ascent step on lambda per unit of relative violation.
        margin: aims at (1 - margin) T, so that the multiplier's oscillation stays below T.
        initial_multiplier: lambda at the start.
    """

    form = "constraint"

    def __init__(
        self,
        limit: float,
        multiplier_lr: float = 0.5,
        margin: float = 0.02,
        initial_multiplier: float = 0.0,
    ) -> None:
        if not limit > 0 or not math.isfinite(limit):
            raise ValueError(f"cost_loss.limit must be a positive number, got {limit}")
        if multiplier_lr <= 0 or not 0 <= margin < 1:
            raise ValueError("cost_loss.multiplier_lr must be > 0 and cost_loss.margin in [0, 1)")
        self.limit, self.multiplier_lr, self.margin = float(limit), multiplier_lr, margin
        self.multiplier = float(initial_multiplier)
        self.unit: str | None = None  # the cost model's, set by `bind`

    @property
    def target(self) -> float:
        return self.limit

    def bind(self, expected: ExpectedCost, hardware: str) -> CostConstraint:
        self.check_feasible(expected)
        self.unit = expected.unit
        return self

    def __call__(self, ce: Tensor, expected_cost: Tensor) -> Tensor:
        return ce + self.multiplier * expected_cost / self.limit

    def update(self, expected_cost: float, derived_cost: float) -> None:
        """One dual-ascent step after an architecture step."""
        violation = max(expected_cost, derived_cost) / (self.limit * (1 - self.margin)) - 1
        self.multiplier = max(0.0, self.multiplier + self.multiplier_lr * violation)

    def after_step(self, expected: Tensor, paths_cost: Callable[[], float]) -> dict[str, float]:
        """The dual-ascent step on E[C] and the argmax architecture's cost; logs both."""
        derived = paths_cost()
        self.update(float(expected), derived)
        return {
            f"arch/{cost_metric('derived', self.unit)}": derived,
            "arch/multiplier": self.multiplier,
        }

    def reward(self, accuracy: float, cost: float, exponent: float, hard_exponent: float) -> float:
        """R = ACC at or under T, ACC x (LAT / T)^hard_exponent over it."""
        return accuracy if cost <= self.limit else accuracy * (cost / self.limit) ** hard_exponent

    def check_feasible(self, expected: ExpectedCost) -> None:
        """Refuse a limit below the cheapest architecture of the space."""
        low, high = expected.bounds()
        if self.limit < low:
            raise ValueError(
                f"cost_loss.limit={self.limit:g} {expected.unit} is below the cheapest "
                f"architecture of the search space ({low:.4g} {expected.unit}; the dearest costs "
                f"{high:.4g}), so no architecture meets the constraint: raise cost_loss.limit or "
                "choose a smaller search space"
            )

    def derive(
        self, indices: Sequence[int], probs: Sequence[Tensor], expected: ExpectedCost
    ) -> list[int]:
        """The argmax architecture, repaired to cost at most T."""
        return self.repair(indices, [p.tolist() for p in probs], expected)

    def repair(
        self, indices: Sequence[int], probs: Sequence[Sequence[float]], expected: ExpectedCost
    ) -> list[int]:
        """`indices` changed until the architecture costs at most T: each swap takes the
        cheaper candidate that loses the least log-probability per unit of cost saved."""
        indices = list(indices)
        costs = [c.tolist() for c in expected.layer_costs]
        while expected.of_paths(indices) > self.limit:
            best, best_score = None, math.inf
            for layer, (p, c) in enumerate(zip(probs, costs, strict=True)):
                now = indices[layer]
                for j, cost in enumerate(c):
                    if cost < c[now]:
                        loss = math.log(max(p[now], 1e-12)) - math.log(max(p[j], 1e-12))
                        score = max(loss, 0.0) / (c[now] - cost)
                        if score < best_score:
                            best, best_score = (layer, j), score
            if best is None:  # every layer is at its cheapest: check_feasible prevents this
                break
            indices[best[0]] = best[1]
        return indices

    def state_dict(self) -> dict[str, Any]:
        return {"multiplier": self.multiplier}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.multiplier = float(state["multiplier"])
