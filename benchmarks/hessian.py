"""Sharpness: the largest-magnitude eigenvalue of a training loss's Hessian, by power
iteration v <- H v / |H v| on Hessian-vector products (double backward), over a fixed list of
batches, with the Rayleigh quotient v^T H v as each iteration's estimate. Times the learning
rate it is the lr x curvature that `delay_stability.largest_stable_step` bounds."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn


def top_hessian_eigenvalue(
    model: nn.Module,
    batches: Sequence[tuple[Tensor, Tensor]],
    loss_fn: Callable[[Tensor, Tensor], Tensor] = nn.functional.cross_entropy,
    iterations: int = 20,
    seed: int = 0,
) -> tuple[float, list[float]]:
    """Largest-magnitude eigenvalue of the Hessian of the mean loss over `batches` with respect
    to the trainable parameters, in the model's current mode (training mode: BatchNorm uses
    each batch's statistics, as the optimiser saw them).

    Returns (estimate, Rayleigh quotient at every iteration); the estimate is the median of the
    second half of the iterations, which damps the swing where two eigenvalues of opposite
    sign are close in magnitude.
    """
    if not batches:
        raise ValueError("top_hessian_eigenvalue needs at least one batch")
    if iterations < 2:
        raise ValueError(f"iterations must be >= 2, got {iterations}")
    params = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(seed)
    vector = [torch.randn(p.shape, generator=generator).to(p) for p in params]
    vector = _normalised(vector)
    quotients = []
    for _ in range(iterations):
        product = _hessian_vector_product(model, params, batches, loss_fn, vector)
        quotients.append(float(sum((h * v).sum() for h, v in zip(product, vector, strict=True))))
        vector = _normalised(product)
    return statistics.median(quotients[iterations // 2 :]), quotients


def _hessian_vector_product(model, params, batches, loss_fn, vector) -> list[Tensor]:
    total = [torch.zeros_like(p) for p in params]
    for inputs, targets in batches:
        loss = loss_fn(model(inputs), targets) / len(batches)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        dot = sum((g * v).sum() for g, v in zip(grads, vector, strict=True))
        for t, h in zip(total, torch.autograd.grad(dot, params), strict=True):
            t.add_(h)
    return total


def _normalised(vector: list[Tensor]) -> list[Tensor]:
    norm = torch.sqrt(sum((v * v).sum() for v in vector))
    if not norm > 0:
        raise ValueError("the Hessian-vector product vanished: the loss is flat in every direction")
    return [v / norm for v in vector]
