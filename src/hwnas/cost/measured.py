"""`MeasuredLatencyModel`: the cost model of `hardware=cpu|onnxruntime|gpu`, a latency table
measured on this machine (built on first use, then cached)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hwnas.cost.cache import load_or_build
from hwnas.cost.calibration import check_calibration_networks
from hwnas.cost.model import CostModel
from hwnas.cost.op_shapes import OpShape
from hwnas.cost.profilers.base import Profiler
from hwnas.cost.table import LatencyTable
from hwnas.cost.units import ms_to
from hwnas.search_space.space import SearchSpace

CALIBRATION_NETWORKS = 12  # random networks a new table is calibrated on, unless configured


class MeasuredLatencyModel(CostModel):
    """Latency (ms) of each op measured by `profiler` on this machine.

    Args:
        profiler: how and where ops are timed.
        cache_dir: where tables are kept (None: `default_cache_dir()`).
        rebuild: measure again even if a matching cached table exists.
        progress: show a progress bar while measuring.
        unit: `ms`, or `us` for networks faster than 1 ms.
        calibration_networks: random networks of the space timed end to end with the ops when
            the table is built, to calibrate its sums (`hwnas.cost.calibration`), at least
            3; 0 prices raw sums. A cached table calibrated on another number when it was
            built is measured again.
    """

    def __init__(
        self,
        profiler: Profiler,
        cache_dir: str | Path | None = None,
        rebuild: bool = False,
        progress: bool = True,
        unit: str = "ms",
        calibration_networks: int = CALIBRATION_NETWORKS,
    ) -> None:
        ms_to(unit)
        check_calibration_networks(calibration_networks)
        self.unit, self.calibration_networks = unit, calibration_networks
        self.profiler, self.cache_dir = profiler, cache_dir
        self.rebuild, self.progress = rebuild, progress
        self.table: LatencyTable | None = None

    def prepare(self, space: SearchSpace) -> None:
        table = load_or_build(
            self.profiler,
            space,
            self.cache_dir,
            self.rebuild,
            self.progress,
            self.calibration_networks,
        )
        if not self.calibration_networks:
            table = table.uncalibrated()
        self.table = table.set_unit(self.unit)

    def _prepared(self) -> LatencyTable:
        if self.table is None:
            raise RuntimeError("MeasuredLatencyModel.prepare(space) must run before op_cost")
        return self.table

    def op_cost(self, op: OpShape) -> float:
        return self._prepared().op_cost(op)

    def fixed_cost(self, space: SearchSpace) -> float:
        return self._prepared().fixed_cost(space)  # with what a network pays once

    def network_cost(self, ops: Sequence[OpShape]) -> float:
        return self._prepared().network_cost(ops)

    def calibration_text(self) -> str | None:
        return self._prepared().calibration_text()

    def table_file(self) -> Path | None:
        return self._prepared().path
