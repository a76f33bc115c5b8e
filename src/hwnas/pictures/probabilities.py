"""How the search's probabilities moved: one small heat map per searched layer, its candidates
against the epochs, all on one colour scale from 0 to 1."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def draw_prob_history(
    history: Sequence[dict[str, Any]], candidates: Sequence[Sequence[str]], title: str = ""
) -> Figure:
    """`history`: records {"epoch": e, "probs": [[p of each candidate] per layer]} (epoch 0
    is the start); `candidates`: every layer's candidate names."""
    if not history:
        raise ValueError("no probabilities recorded: the search ran no training epoch")
    epochs = [int(r["epoch"]) for r in history]
    layers = len(candidates)
    if any(len(r["probs"]) != layers for r in history):
        raise ValueError(f"probability records do not match the {layers} layers of the space")
    cols = min(layers, 7)
    rows = math.ceil(layers / cols)
    most = max(len(c) for c in candidates)
    fig = Figure(figsize=(2.2 * cols + 0.8, (0.22 * most + 0.8) * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    image = None
    for layer in range(rows * cols):
        ax = axes[layer // cols][layer % cols]
        if layer >= layers:
            ax.axis("off")
            continue
        grid = np.array([r["probs"][layer] for r in history]).T  # candidates x records
        image = ax.imshow(
            grid, aspect="auto", vmin=0.0, vmax=1.0, cmap="viridis", interpolation="nearest"
        )
        names = list(candidates[layer])  # layers may differ (Zero only where allowed)
        ax.set_yticks(range(len(names)), names, fontsize=6)
        ticks = sorted({0, len(epochs) - 1, (len(epochs) - 1) // 2})
        ax.set_xticks(ticks, [str(epochs[t]) for t in ticks], fontsize=6)
        ax.set_title(f"layer {layer}", fontsize=7)
    fig.supxlabel("epoch", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="probability")
    fig.suptitle(title or "Probability of every candidate over the search", fontsize=9)
    return fig
