"""ProxylessNAS-G: the gradient architecture update (REFERENCE A2, A4), every `every`-th weight
step, on a held-out batch: binarised gates in `mode`, CE combined with E[C] by the search's
`cost_loss`, Adam on the alphas."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch.optim import Optimizer

from hwnas.cost.model import cost_metric
from hwnas.search.arch_step import architecture_step
from hwnas.search.arch_update import ArchUpdate, OptimizerFactory
from hwnas.search.mixed_op import ARCH_MODES

if TYPE_CHECKING:
    from hwnas.search.module import SearchModule


class GradientUpdate(ArchUpdate):
    """The gradient update (`arch_update=gradient`).

    Args:
        mode: `full`, `two` or `full_v2` (REFERENCE A2).
        every: weight steps per architecture step.
        warmup_epochs / alpha_init_std / optimizer: as `ArchUpdate`'s.
    """

    name = "gradient"

    def __init__(
        self,
        mode: str = "full_v2",
        every: int = 5,
        warmup_epochs: int = 0,
        alpha_init_std: float = 0.0,
        optimizer: OptimizerFactory | None = None,
    ) -> None:
        if mode not in ARCH_MODES:
            raise ValueError(f"unknown arch_update.mode {mode!r}; choose one of {ARCH_MODES}")
        if every < 1:
            raise ValueError(f"arch_update.every must be at least 1, got {every}")
        super().__init__(warmup_epochs, alpha_init_std, optimizer)
        self.mode, self.every = mode, every

    def steps_due(self, batch_idx: int, num_batches: int) -> int:
        return int((batch_idx + 1) % self.every == 0)

    def step(self, module: SearchModule, a_opt: Optimizer) -> None:
        """One architecture step (REFERENCE A2, A4), then the cost term's `after_step`."""
        x, y = module.next_arch_batch()
        expected_cost = module.expected_cost
        loss, ce, expected = architecture_step(
            module.supernet,
            x,
            y,
            self.mode,
            module.path_generator,
            expected_cost,
            module.cost_loss,
            a_opt,
            forward=module,
            backward=module.manual_backward,
            check=lambda value: module.check_finite(value, "architecture step"),
            skip_zero_active=module.skip_zero_active,
        )
        metrics = {
            "arch/loss": loss,
            "arch/ce": ce,
            f"arch/{cost_metric('expected', expected_cost.unit)}": expected,
            "arch/entropy": module.supernet.entropy().detach(),
        }
        metrics |= module.cost_loss.after_step(
            expected, lambda: expected_cost.of_paths(module.supernet.argmax_paths())
        )
        module.log_dict(metrics, prog_bar=False, batch_size=len(y))

    def dts_shared_steps(self) -> int:
        """DTS keeps the alphas identical on every rank (so every rank samples the same paths)
        and delays their averaged gradients by ceil(t / every) architecture steps."""
        return self.every
