"""The retraining optimiser (REFERENCE A5): SGD with Nesterov momentum, no weight decay on
BatchNorm parameters and biases, and a per-step cosine schedule after a linear warm-up."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from timm.optim import param_groups_weight_decay
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def build_optimizer(
    model: nn.Module, factory: Callable[[Iterable], Optimizer], weight_decay: float
) -> Optimizer:
    """`factory` (e.g. a partial `torch.optim.SGD`) over two groups: weights of convs and
    linear layers with `weight_decay`, and every 1-D parameter (BatchNorm scales and shifts,
    biases) without it."""
    return factory(param_groups_weight_decay(model, weight_decay))


def warmup_cosine(
    optimizer: Optimizer,
    warmup_steps: int,
    total_steps: int,
    start_factor: float = 0.1,
    min_factor: float = 0.0,
) -> LambdaLR:
    """LR factor rising linearly from `start_factor` to 1 over `warmup_steps`, then a cosine
    from 1 to `min_factor` at `total_steps`."""
    if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"need 0 <= warmup_steps <= total_steps, total >= 1 (got {warmup_steps}, {total_steps})"
        )
    decay_steps = max(1, total_steps - warmup_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return start_factor + (1 - start_factor) * step / warmup_steps
        progress = min(step - warmup_steps, decay_steps) / decay_steps
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
