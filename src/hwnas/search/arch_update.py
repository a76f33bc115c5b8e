"""The architecture update of a search, one `arch_update=` choice each (conf/arch_update/): the
gradient one of ProxylessNAS-G (`gradient_update.py`, REFERENCE A2) and REINFORCE
(`reinforce.py`, REFERENCE A3). `SearchModule` asks the update after every weight step how many
updates are due, and runs them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch.optim import Optimizer

if TYPE_CHECKING:
    from hwnas.search.module import SearchModule

OptimizerFactory = Callable[..., Optimizer]
# REFERENCE A5: Adam lr 1e-3, betas (0, 0.999), eps 1e-8, no weight decay
PAPER_ARCH_OPTIMIZER = partial(
    torch.optim.Adam, lr=1.0e-3, betas=(0.0, 0.999), eps=1.0e-8, weight_decay=0.0
)


class ArchUpdate(ABC):
    """How the alphas move.

    Args:
        warmup_epochs: epochs of weight steps only before the first update.
        alpha_init_std: the alphas start at N(0, std) (0: zeros, uniform p).
        optimizer: partial optimiser of the alphas (the paper's Adam by default).

    Attributes:
        name: the `arch_update=` choice.
        mode: the gradient update's `arch_update.mode` (None for REINFORCE).
    """

    name: ClassVar[str]
    mode: str | None = None

    def __init__(
        self,
        warmup_epochs: int = 0,
        alpha_init_std: float = 0.0,
        optimizer: OptimizerFactory | None = None,
    ) -> None:
        self.warmup_epochs, self.alpha_init_std = warmup_epochs, alpha_init_std
        self.optimizer = optimizer or PAPER_ARCH_OPTIMIZER

    @abstractmethod
    def steps_due(self, batch_idx: int, num_batches: int) -> int:
        """Updates to run after weight step `batch_idx` of an epoch of `num_batches`."""

    @abstractmethod
    def step(self, module: SearchModule, a_opt: Optimizer) -> None:
        """One update of the alphas of `module` on its next held-out batch; logs its metrics."""

    @abstractmethod
    def dts_shared_steps(self) -> int:
        """For `distributed=dts`: weight steps between two updates (or a ValueError saying why
        this update cannot run under DTS)."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed search needs to continue as the unbroken one ({}: nothing)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        del state  # nothing to restore
