"""Making every replica identical at a sync point: the average of every floating-point tensor
of the model (parameters, BatchNorm statistics, an EMA of the weights) and of the optimiser
state (momentum, Adam's moments; step counters are equal on every rank already), and how far a
replica had drifted from the model a sync point agrees on."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from hwnas.distributed.flat import copy_into
from hwnas.distributed.link import EmulatedLink


def replica_state(
    module: nn.Module, optimizers: Iterable[Optimizer] = (), buffers_only: bool = False
) -> list[Tensor]:
    """The floating-point tensors that make up a replica, in an order every rank agrees on
    (`buffers_only`: the module's buffers, such as BatchNorm statistics, alone)."""
    tensors, seen = [], set()
    for tensor in module.state_dict(keep_vars=True).values():
        if buffers_only and isinstance(tensor, nn.Parameter):
            continue
        if tensor.is_floating_point() and tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            tensors.append(tensor.data)
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            for param in group["params"]:
                state = optimizer.state.get(param, {})
                for key in sorted(state):
                    value = state[key]
                    if key != "step" and isinstance(value, Tensor) and value.is_floating_point():
                        tensors.append(value)
    return tensors


def average_replicas(
    link: EmulatedLink,
    module: nn.Module,
    optimizers: Iterable[Optimizer] = (),
    buffers_only: bool = False,
) -> None:
    """Replace every rank's model and optimiser state (or only the module's buffers) by their
    average over the ranks (one exchange over `link`, so a sync point pays the emulated latency
    like any other)."""
    tensors = replica_state(module, optimizers, buffers_only)
    if not tensors or link.world == 1:
        return
    dtype = torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
    flat = torch.cat([t.detach().reshape(-1).to(dtype) for t in tensors])
    copy_into(tensors, link.all_reduce_mean(flat, "synchronisation of the replicas").wait())


def relative_distance(before: Tensor, after: Tensor) -> float:
    """||before - after|| / ||after||: at a sync point, how far this replica's parameters were
    from the one model the ranks agreed on (0 when nothing had set the replicas apart)."""
    norm = after.double().square().sum()
    if norm == 0:
        return 0.0
    return float(((before.double() - after.double()).square().sum() / norm).sqrt())
