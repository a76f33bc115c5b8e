"""What a search asks of the hardware term of its architecture loss (REFERENCE A4), whichever
form it takes: the soft forms of `soft.py` and the hard constraint of `constraint.py`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from torch import Tensor

from hwnas.cost.model import ExpectedCost


class CostObjective(ABC):
    """The hardware term: how the expected cost E[C] of the candidates enters the architecture
    loss, the REINFORCE reward and the architecture the search hands over.

    `SearchModule` calls `bind` once the cost model is built, the loss at every architecture
    step, `after_step` after it, `derive` on the argmax architecture, and `reward` for every
    net a REINFORCE update scores.

    Attributes:
        form: the `cost_loss=` choice (`mul_log`, `add_linear`, `none`, `constraint`).
        target: T in the cost model's unit (None until `bind` resolves a `target: null`).
    """

    form: ClassVar[str]
    target: float | None

    @abstractmethod
    def bind(self, expected: ExpectedCost, hardware: str) -> CostObjective:
        """Fix T for the search space priced by `expected` on `hardware` (named in errors),
        refusing a T the form cannot use; returns self."""

    @abstractmethod
    def __call__(self, ce: Tensor, expected_cost: Tensor) -> Tensor:
        """The architecture loss from the cross-entropy and E[C] (REFERENCE A4)."""

    @abstractmethod
    def reward(self, accuracy: float, cost: float, exponent: float, hard_exponent: float) -> float:
        """The REINFORCE reward of one net (REFERENCE A3) of accuracy `accuracy` and cost
        `cost`; `exponent` is w of ACC x (LAT / T)^w, `hard_exponent` the penalty over a hard
        limit."""

    def after_step(self, expected: Tensor, paths_cost: Callable[[], float]) -> dict[str, float]:
        """Called after every architecture step with E[C] and the cost of the current argmax
        architecture (computed only if called); returns the metrics to log."""
        return {}

    def derive(
        self, indices: Sequence[int], probs: Sequence[Tensor], expected: ExpectedCost
    ) -> list[int]:
        """The architecture the search hands over, from the argmax `indices` and p."""
        return list(indices)

    def state_dict(self) -> dict[str, Any]:
        """What a resumed search needs to continue as the unbroken one ({}: nothing)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        del state  # nothing to restore
