"""Top-1 and top-5 accuracy over a whole evaluation split."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from tqdm.auto import tqdm


@torch.no_grad()
def top_k_accuracy(
    model: nn.Module,
    batches: Iterable,
    device: torch.device,
    ks: tuple[int, ...] = (1, 5),
    progress: str | None = None,
) -> dict[str, float]:
    """Share of images whose label is among the model's k best classes, for each k in `ks`
    (k above the class count counts every image), and the image count `n`; `progress` is the
    label of a progress bar over the batches (None: no bar)."""
    model.eval().to(device)
    hits = dict.fromkeys(ks, 0)
    n = 0
    for x, y in tqdm(batches, desc=progress, disable=progress is None, unit="batch"):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        logits = model(x)
        best = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
        for k in ks:
            hits[k] += int((best[:, :k] == y[:, None]).any(1).sum())
        n += len(y)
    if n == 0:
        raise ValueError("the evaluation split holds no image")
    return {**{f"top{k}": hits[k] / n for k in ks}, "n": n}
