"""A network's latency on the chosen hardware, measured end to end, beside what the latency
model predicts for it (the calibrated sum of its ops, as the search reported it): the check
that the search optimised the right number."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from hwnas.architecture.arch_file import Architecture
from hwnas.cost.cache import fetch_table, find_cached_table
from hwnas.cost.calibration import check_calibration_networks
from hwnas.cost.measured import CALIBRATION_NETWORKS
from hwnas.cost.op_shapes import OpShape, architecture_ops
from hwnas.cost.profilers.base import Profiler, Timing
from hwnas.cost.table import LatencyTable
from hwnas.cost.units import duration, ms_to

log = logging.getLogger(__name__)


def time_network(
    profiler: Profiler,
    arch: Architecture,
    model: nn.Module,
    ops: Sequence[OpShape] = (),
    progress: bool = True,
) -> tuple[LatencyTable | None, Timing]:
    """Time `model` end to end, with `ops` in the same rounds where given (their table is
    returned, else None). Logs what is timed and for about how long before, and the latency
    after; `progress` shows a bar of the rounds."""
    shape = (profiler.batch_size, arch.in_channels, arch.input_size, arch.input_size)
    beside = f" beside its {len(ops)} ops (no cached table prices them)" if ops else ""
    seconds = profiler.planned_seconds(len(ops) + 1)
    log.info(
        "Timing %s end to end%s on %s: about %s of timed runs in %d rounds",
        arch.name,
        beside,
        profiler.fingerprint().describe(),
        duration(seconds),
        profiler.rounds,
    )
    start = time.perf_counter()
    table = None
    if ops:
        table, (timing,) = profiler.measure(ops, [(model, shape)], progress=progress)
    else:
        bar = f"timing {arch.name}" if progress else None
        (timing,) = profiler.time_modules([(model, shape)], bar)
    log.info(
        "Timed %s: %.3f ms end to end (%d runs in %.1f s; median %.3f ms)",
        arch.name,
        timing.ms,
        timing.count,
        time.perf_counter() - start,
        timing.median_ms,
    )
    return table, timing


def latency_summary(
    hardware: DictConfig,
    arch: Architecture,
    model: nn.Module,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """`predicted` from `hardware.table`, else from the cached table of this hardware that
    prices the network's ops (the one a search here used, with its calibration), else from a
    table of the network's ops measured in the same rounds as the network (`cpu`,
    `onnxruntime`, `gpu`; a raw sum), else from the hardware's model (`mobile`, `flops`);
    `measured` end to end where the hardware has a profiler (None for the phone model, with
    the reason). `predicted_by` says which, and how the sum is calibrated; `table_sum` is the
    raw sum where a calibration was applied. The timing is logged (and shown as a progress
    bar where `progress` and `hardware.cost_model.progress` are on)."""
    ops = architecture_ops(arch)
    cost_cfg = hardware.cost_model
    unit = cost_cfg.get("unit", "ms")
    calibration_networks = cost_cfg.get("calibration_networks", CALIBRATION_NETWORKS)
    check_calibration_networks(calibration_networks)
    summary: dict[str, Any] = {"hardware": hardware.get("name", "?"), "unit": unit}
    predicted, table = None, None
    if hardware.get("table"):
        table = LatencyTable.load(fetch_table(str(hardware.table), cache_dir))
        summary["predicted_by"] = f"table {hardware.table}"
    if cost_cfg.get("profiler") is not None:
        profiler = instantiate(cost_cfg.profiler)
        if table is None and calibration_networks:
            table = find_cached_table(profiler, ops, cache_dir)
            if table is not None:
                summary["predicted_by"] = f"the cached table {table.path}"
        progress = progress and bool(cost_cfg.get("progress", True))
        measured, timing = time_network(
            profiler, arch, model, ops if table is None else (), progress
        )
        if table is None:
            table = measured
            summary["predicted_by"] = f"table of the net's {len(ops)} ops, measured beside it"
        summary["measured"] = timing.ms * ms_to(unit)
        summary["device"] = profiler.fingerprint().describe()
        summary["batch_size"] = profiler.batch_size
    else:
        if table is None:
            predicted = instantiate(cost_cfg).network_cost(ops)
            summary["predicted_by"] = f"the {summary['hardware']} model"
        summary["measured"] = None
        summary["why_not_measured"] = (
            f"hardware={summary['hardware']} has no device here to time the network on"
        )
    if table is not None:
        predicted = table.set_unit(unit).network_cost(ops)
        summary["predicted_by"] += f" ({table.calibration_text()})"
        if table.calibration is not None:
            summary["table_sum"] = table.uncalibrated().set_unit(unit).network_cost(ops)
    summary["predicted"] = predicted
    if summary["measured"]:
        summary["predicted_over_measured"] = predicted / summary["measured"]
    return summary
