"""Making every replica identical at a sync point: the average of every floating-point tensor
of the model (parameters, BatchNorm statistics, an EMA of the weights) and of the optimiser
state (momentum, Adam's moments; step counters are equal on every rank already), and how far
the replicas had drifted apart before it."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from hwnas.distributed.flat import copy_into
from hwnas.distributed.link import EmulatedLink


def replica_state(module: nn.Module, optimizers: Iterable[Optimizer] = ()) -> list[Tensor]:
    """The floating-point tensors that make up a replica, in an order every rank agrees on."""
    tensors, seen = [], set()
    for tensor in module.state_dict(keep_vars=True).values():
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


def average_replicas(link: EmulatedLink, module: nn.Module,
                     optimizers: Iterable[Optimizer] = ()) -> float:  # fmt: skip
    """Replace every rank's model and optimiser state by their average over the ranks (one
    exchange over `link`, so a sync point pays the emulated latency like any other).

    Returns how far this rank's parameters had drifted from the average: the norm of (replica
    - average) over the norm of the average, over every parameter (0 when the replicas were
    identical, as under synchronous SGD)."""
    tensors = replica_state(module, optimizers)
    if not tensors or link.world == 1:
        return 0.0
    dtype = torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
    flat = torch.cat([t.detach().reshape(-1).to(dtype) for t in tensors])
    average = link.all_reduce_mean(flat, "synchronisation of the replicas").wait()
    spread = _relative_distance(flat, average, _parameter_slices(module, tensors))
    copy_into(tensors, average)
    return spread


def _parameter_slices(module: nn.Module, tensors: list[Tensor]) -> list[slice]:
    """Where the module's parameters lie in the flat vector of `tensors`."""
    params = {p.data_ptr() for p in module.parameters()}
    slices, offset = [], 0
    for tensor in tensors:
        if tensor.data_ptr() in params:
            slices.append(slice(offset, offset + tensor.numel()))
        offset += tensor.numel()
    return slices


def _relative_distance(local: Tensor, average: Tensor, slices: list[slice]) -> float:
    if not slices:
        return 0.0
    diff = torch.stack([(local[s] - average[s]).double().square().sum() for s in slices]).sum()
    norm = torch.stack([average[s].double().square().sum() for s in slices]).sum()
    return float((diff / norm).sqrt()) if norm > 0 else 0.0


def relative_distance(before: Tensor, after: Tensor) -> float:
    """||before - after|| / ||after||: at a sync point, how far this replica's parameters were
    from the one model the ranks agreed on (0 when nothing had set the replicas apart)."""
    norm = after.double().square().sum()
    if norm == 0:
        return 0.0
    return float(((before.double() - after.double()).square().sum() / norm).sqrt())
