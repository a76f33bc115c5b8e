"""Many tensors as one flat vector and back, so that an exchange is one collective."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def flatten(tensors: Sequence[Tensor]) -> Tensor:
    """One new 1-D tensor holding every tensor's values in logical (NCHW) order."""
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def flat_grads(params: Sequence[Tensor]) -> Tensor:
    """The parameters' gradients as one vector; a parameter without a gradient counts zeros."""
    return torch.cat(
        [
            p.grad.detach().reshape(-1)
            if p.grad is not None
            else torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
            for p in params
        ]
    )


def grad_presence(params: Sequence[Tensor], like: Tensor) -> Tensor:
    """One value per parameter, 1 where it has a gradient and 0 where it has none (a candidate
    op a search did not sample), in `like`'s dtype and device, so it can travel in an exchange."""
    present = [p.grad is not None for p in params]
    return torch.tensor(present, dtype=like.dtype).to(like.device)


def _chunks(tensors: Sequence[Tensor], flat: Tensor) -> list[Tensor]:
    sizes = [t.numel() for t in tensors]
    if sum(sizes) != flat.numel():
        raise ValueError(
            f"a flat vector of {flat.numel()} values cannot fill tensors holding {sum(sizes)}"
        )
    return [chunk.view(t.shape) for chunk, t in zip(torch.split(flat, sizes), tensors, strict=True)]


def copy_into(tensors: Sequence[Tensor], flat: Tensor) -> None:
    """Write `flat` into the tensors in place (each keeps its memory format)."""
    with torch.no_grad():
        for t, chunk in zip(tensors, _chunks(tensors, flat), strict=True):
            t.copy_(chunk)


def add_into(tensors: Sequence[Tensor], flat: Tensor) -> None:
    """Add `flat` to the tensors in place."""
    with torch.no_grad():
        for t, chunk in zip(tensors, _chunks(tensors, flat), strict=True):
            t.add_(chunk.to(t.dtype))


def set_grads(params: Sequence[Tensor], flat: Tensor, present: Tensor | None = None) -> None:
    """Make `flat` the parameters' gradients (written into existing ones, keeping layout).
    Where `present` (one value per parameter) is 0 the parameter gets no gradient, so the
    optimiser leaves it and its state alone, as it does an unsampled candidate in a search."""
    keep = [True] * len(params) if present is None else (present > 0).tolist()
    for p, chunk, kept in zip(params, _chunks(params, flat), keep, strict=True):
        if not kept:
            p.grad = None
            continue
        if p.grad is None:
            p.grad = torch.empty_like(p)
        p.grad.copy_(chunk)
