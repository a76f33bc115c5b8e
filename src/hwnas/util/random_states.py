"""The states of every random generator a run draws from (torch, numpy, Python), as a
checkpoint can hold them: a resumed run then draws what the unbroken run would have drawn
(dropout, mixup, stochastic depth)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def capture() -> dict[str, Any]:
    """The generators' states; numpy's key array as a tensor, so that the checkpoint loads
    with `weights_only=True`, which refuses numpy arrays."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "python": random.getstate(),
    }


def restore(states: dict[str, Any]) -> None:
    """Put back what `capture` returned."""
    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(states["python"])
