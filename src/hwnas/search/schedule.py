"""Learning-rate schedule of the weight optimiser (REFERENCE A5): a cosine over the warm-up
epochs (from a higher rate), then a fresh cosine over the search epochs."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_then_search_cosine(
    optimizer: Optimizer, warmup_steps: int, total_steps: int, warmup_lr_scale: float = 2.0
) -> LambdaLR:
    """LR factor: `warmup_lr_scale * cos_decay` over the first `warmup_steps` weight steps, then
    `cos_decay` over the rest (the paper: warm-up from 0.05, search from 0.025 -> scale 2)."""
    search_steps = max(1, total_steps - warmup_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return warmup_lr_scale * 0.5 * (1 + math.cos(math.pi * step / warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * min(step - warmup_steps, search_steps) / search_steps))

    return LambdaLR(optimizer, factor)
