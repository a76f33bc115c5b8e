"""The model, batches and all-gather the two-rank scenarios share. Not a test module."""

from __future__ import annotations

import torch
import torch.distributed as dist

LR = 0.1


def toy_model(seed: int = 0) -> torch.nn.Module:
    """A small MLP, identical on every rank."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def backward(model: torch.nn.Module, rank: int, step: int) -> None:
    """Gradients of this rank's batch at this step (batches differ between ranks and steps)."""
    g = torch.Generator().manual_seed(1000 * step + rank)
    x, y = torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
    model.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()


def gather(tensor: torch.Tensor) -> list[torch.Tensor]:
    everyone = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(everyone, tensor.contiguous())
    return everyone
