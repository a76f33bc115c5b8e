"""The hardware matrix (the paper's point that a net specialised for one device is not the
best on another): the cost of a set of architectures on every hardware model available."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.architecture.arch_file import Architecture
from hwnas.architecture.timm_model import resolve_architecture
from hwnas.pictures.hardware_matrix import column_best
from hwnas.report.pricing import Price, hardware_config, price
from hwnas.util.tables import markdown_table

PUBLISHED_FOR_MATRIX = ("proxyless_mobile", "proxyless_cpu", "proxyless_gpu")


@dataclass
class HardwareMatrix:
    """`prices[r][c]`: architecture `names[r]` on hardware `hardware[c]`."""

    names: list[str]
    inputs: list[str]  # e.g. "3x224x224": nets are compared with nets of the same input
    hardware: list[str]
    prices: list[list[Price]]

    def units(self) -> list[str]:
        return [
            next((p.unit for p in col if p.value is not None), col[0].unit)
            for col in zip(*self.prices, strict=True)
        ]

    def values(self) -> list[list[float | None]]:
        return [[p.value for p in row] for row in self.prices]

    def sources(self, column: int) -> dict[str, list[str]]:
        """How column `column` priced its nets: {how: [names]} (a measured column can mix a
        calibrated cached table with ops timed now, which the Markdown then says)."""
        found: dict[str, list[str]] = {}
        for name, row in zip(self.names, self.prices, strict=True):
            if row[column].value is not None:
                found.setdefault(row[column].how, []).append(name)
        return found

    def available(self) -> list[int]:
        """Columns where at least one net is priced."""
        return [
            c
            for c in range(len(self.hardware))
            if any(row[c].value is not None for row in self.prices)
        ]

    def markdown(self) -> str:
        """The table, the best of each column among nets of the same input in bold, and a note
        for every hardware that priced nothing."""
        cols = self.available()
        grid = np.array([[np.nan if v is None else v for v in row] for row in self.values()])
        best = column_best(grid, self.inputs)
        units = self.units()
        header = ["architecture", "input"] + [f"{self.hardware[c]} ({units[c]})" for c in cols]
        rows = []
        for r, name in enumerate(self.names):
            cells = []
            for c in cols:
                value = self.prices[r][c].value
                text = "-" if value is None else f"{value:.3g}"
                cells.append(f"**{text}**" if value is not None and value == best[r, c] else text)
            rows.append([name, self.inputs[r], *cells])
        notes = [
            f"- `{self.hardware[c]}`: not priced ({self.prices[0][c].how})"
            for c in range(len(self.hardware))
            if c not in cols
        ]
        partial = {
            (self.hardware[c], p.how)
            for c in cols
            for p in (row[c] for row in self.prices)
            if p.value is None
        }
        notes += [f"- `{hw}`: `-` where {how}" for hw, how in sorted(partial)]
        notes += [
            f"- `{self.hardware[c]}`: "
            + "; ".join(f"{how} ({', '.join(names)})" for how, names in sources.items())
            for c in cols
            if len(sources := self.sources(c)) > 1
        ]
        return markdown_table(header, rows) + ("\n\n" + "\n".join(notes) if notes else "")


def input_text(arch: Architecture) -> str:
    return f"{arch.in_channels}x{arch.input_size}x{arch.input_size}"


def hardware_matrix(
    archs: Sequence[tuple[str, Architecture]],
    hardware: Sequence[str],
    cache_dir: str | Path | None = None,
    measure: bool = False,
) -> HardwareMatrix:
    """Price every architecture on every hardware config in `hardware`."""
    configs = [hardware_config(name, cache_dir) for name in hardware]
    prices = [[price(cfg, arch, cache_dir, measure) for cfg in configs] for _, arch in archs]
    return HardwareMatrix(
        [n for n, _ in archs], [input_text(a) for _, a in archs], list(hardware), prices
    )


def published_archs(names: Sequence[str] = PUBLISHED_FOR_MATRIX) -> list[tuple[str, Architecture]]:
    return [(name, resolve_architecture(name)) for name in names]
