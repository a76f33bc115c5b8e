"""Saving figures whole or not at all, in the formats asked for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from hwnas.util.files import write_atomic


def save_figure(
    fig: Figure, path: str | Path, formats: Sequence[str] = ("png",), dpi: int = 120
) -> list[Path]:
    """Write `fig` as `path` with each suffix of `formats` (`arch` -> `arch.png`, `arch.svg`),
    each atomically; returns the paths written."""
    path = Path(path)
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        write_atomic(
            target, lambda f, fmt=fmt: fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight")
        )
        written.append(target)
    return written
