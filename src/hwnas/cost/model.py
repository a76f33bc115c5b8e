"""Cost models price each op of a search space; `ExpectedCost` turns them into the
differentiable expected cost of the supernet (REFERENCE A4):
E[C] = C(fixed parts) + sum_layers sum_j p_j C(op_j), Zero counting 0."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from hwnas.cost.op_shapes import OpShape, candidate_op, fixed_ops
from hwnas.search_space.space import SearchSpace

LATENCY_UNITS = ("ms", "us")


def cost_metric(kind: str, unit: str) -> str:
    """The logged name of a cost, with its unit: `expected_latency_ms`, `derived_latency_us`,
    `expected_cost_MMACs` (a latency for time units, a cost otherwise)."""
    return f"{kind}_{'latency' if unit in LATENCY_UNITS else 'cost'}_{unit}"


class CostModel(ABC):
    """Prices one op. Implementations: analytic multiply-adds here; latency tables and the
    mobile model implement the same method."""

    unit: str = ""

    @abstractmethod
    def op_cost(self, op: OpShape) -> float:
        """Cost of `op` in `self.unit`."""

    def prepare(self, space: SearchSpace) -> None:  # noqa: B027 - optional hook
        """Called once with the search space before any cost is asked for: measured tables
        are loaded or built here, and checked to cover the space."""

    def fixed_cost(self, space: SearchSpace) -> float:
        return sum(self.op_cost(op) for op in fixed_ops(space))

    def calibration_text(self) -> str | None:
        """How the costs relate to whole networks, where the model is a measured table
        (calibrated or not); None for models that are not sums of timed ops."""
        return None

    def table_file(self) -> Path | None:
        """The latency table file the prices come from; None for analytic models."""
        return None

    def network_cost(self, ops: Sequence[OpShape]) -> float:
        """Cost of a whole network made of `ops` (e.g. `architecture_ops(arch)`)."""
        return sum(self.op_cost(op) for op in ops)

    def layer_costs(self, space: SearchSpace) -> list[list[float]]:
        """Per searched layer, the cost of each candidate (0 for Zero)."""
        costs = []
        for layer in space.layers:
            ops = [candidate_op(layer, cand) for cand in layer.candidates]
            costs.append([0.0 if op is None else self.op_cost(op) for op in ops])
        return costs


class ExpectedCost:
    """The expected cost of a supernet over its path distribution, differentiable in alpha.

    Args:
        model: the hardware's cost model.
        space: the search space the costs are taken at.
    """

    def __init__(self, model: CostModel, space: SearchSpace) -> None:
        self.unit = model.unit
        self.calibration_text = model.calibration_text()
        self.table_file = model.table_file()
        self.fixed = float(model.fixed_cost(space))
        self.layer_costs = [torch.tensor(c, dtype=torch.float32) for c in model.layer_costs(space)]
        self._on_device: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}

    def _costs(self, device: torch.device, dtype: torch.dtype) -> list[Tensor]:
        """The cost vectors on `device`, copied once rather than at every step."""
        key = (device, dtype)
        if key not in self._on_device:
            self._on_device[key] = [c.to(device, dtype) for c in self.layer_costs]
        return self._on_device[key]

    def __call__(self, probs: Sequence[Tensor]) -> Tensor:
        """E[C] for per-layer probability vectors `probs` (keeps their autograd graph)."""
        if len(probs) != len(self.layer_costs):
            raise ValueError(
                f"expected {len(self.layer_costs)} layers of probabilities, got {len(probs)}"
            )
        dtype = torch.promote_types(probs[0].dtype, torch.float32)
        total = torch.zeros((), dtype=dtype, device=probs[0].device)
        costs = self._costs(probs[0].device, dtype)
        for p, c in zip(probs, costs, strict=True):
            total = total + (p.to(dtype) * c).sum()
        return total + self.fixed

    def of_paths(self, indices: Sequence[int]) -> float:
        """Cost of the single architecture that takes candidate `indices[l]` at layer l."""
        return self.fixed + sum(float(c[i]) for c, i in zip(self.layer_costs, indices, strict=True))

    def bounds(self) -> tuple[float, float]:
        """Cheapest and dearest architecture of the space."""
        low = self.fixed + sum(float(c.min()) for c in self.layer_costs)
        high = self.fixed + sum(float(c.max()) for c in self.layer_costs)
        return low, high
