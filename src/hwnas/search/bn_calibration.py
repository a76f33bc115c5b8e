"""BatchNorm recalibration for one path of a supernet. During search each BN's running
statistics mix the inputs of many sampled paths; before evaluating the argmax path, its
statistics are re-estimated on training batches (as one-shot NAS methods do)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def calibration_batches(loader: Iterable, epoch: int) -> Iterable:
    """`loader` with its sampler moved to `epoch` where it has one (DistributedSampler, the
    tensor data sets' ShardedOrder): a fresh loader's sampler starts at epoch 0, so under DDP
    every calibration would otherwise see the same first batches."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)
    return loader


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, batches: Iterable, num_batches: int, device: torch.device
) -> int:
    """Reset running stats, then average them over up to `num_batches` batches in train mode.

    Returns the number of batches used (0 leaves the statistics untouched).
    """
    if num_batches <= 0:
        return 0
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m, m.momentum) for m in norms]
    was_training = model.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    model.train()
    used = 0
    try:
        for x, _ in batches:
            model(x.to(device, non_blocking=True))
            used += 1
            if used >= num_batches:
                break
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        model.train(was_training)
    return used
