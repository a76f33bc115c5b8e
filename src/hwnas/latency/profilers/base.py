"""Profilers measure the latency of a module on one device and runtime; from single ops they
build a `LatencyTable`, from whole networks they give the end-to-end figure it must predict."""

from __future__ import annotations

import math
import statistics
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from torch import nn
from tqdm.auto import tqdm

from hwnas.hardware.op_shapes import OpShape
from hwnas.latency.fingerprint import HardwareFingerprint
from hwnas.latency.op_modules import op_input_shape, op_module
from hwnas.latency.table import LatencyEntry, LatencyTable


@dataclass(frozen=True)
class Timing:
    """Latency of one module in ms over `count` timed runs."""

    median_ms: float
    mean_ms: float
    std_ms: float
    count: int

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float], runs_per_sample: int = 1) -> Timing:
        """From per-run times, each the average of `runs_per_sample` back-to-back runs."""
        if not samples_ms:
            raise ValueError("no timing samples")
        std = statistics.stdev(samples_ms) if len(samples_ms) > 1 else 0.0
        return cls(statistics.median(samples_ms), statistics.fmean(samples_ms), std,
                   len(samples_ms) * runs_per_sample)  # fmt: skip

    def entry(self) -> LatencyEntry:
        return LatencyEntry(self.mean_ms, self.std_ms, self.count, self.median_ms)


BLOCK_SECONDS = 0.01  # like torch.utils.benchmark: blocks of >= 10 ms average out timer jitter
MIN_BLOCKS = 10  # short min_run_time (tests) shrinks the blocks rather than the repeats


def blocked_autorange(run_block: Callable[[int], float], min_run_time: float) -> Timing:
    """Time repeated runs as `torch.utils.benchmark.Timer.blocked_autorange` does: choose
    the runs per block so that a block lasts at least ~10 ms (less where `min_run_time` is
    short), then time blocks until `min_run_time` seconds are spent.

    Args:
        run_block: runs the module `n` times and returns the seconds it took.
        min_run_time: seconds of timed blocks.

    Returns:
        The per-run time (ms) of each block, summarised.
    """
    block = min(BLOCK_SECONDS, min_run_time / MIN_BLOCKS)
    number, elapsed = 1, run_block(1)
    while elapsed < block:  # calibrate on growing blocks (as timeit's autorange)
        estimate = math.ceil(number * block / max(elapsed, 1e-9))
        number = max(number + 1, min(number * 10, estimate))
        elapsed = run_block(number)
    samples_ms, total = [], 0.0
    while total < min_run_time:
        elapsed = run_block(number)
        samples_ms.append(elapsed / number * 1e3)
        total += elapsed
    return Timing.from_samples(samples_ms, number)


class Profiler(ABC):
    """Times modules on one device and runtime.

    Args:
        batch_size: of the measured inputs.
        threads: intra-op threads.
        warmup: untimed runs before timing (caches, allocator, autotuning).
        min_run_time: seconds of timed runs per module; more repeats give a steadier median.
    """

    runtime: str = ""

    def __init__(self, batch_size: int = 1, threads: int = 1, warmup: int = 10,
                 min_run_time: float = 0.5) -> None:  # fmt: skip
        if batch_size < 1 or threads < 0 or min_run_time <= 0:
            raise ValueError(
                f"{type(self).__name__}: batch_size must be >= 1, threads >= 0 and "
                f"min_run_time > 0 (got {batch_size}, {threads}, {min_run_time})"
            )
        self.batch_size, self.threads = batch_size, threads
        self.warmup, self.min_run_time = warmup, min_run_time

    @abstractmethod
    def fingerprint(self) -> HardwareFingerprint:
        """What this profiler measures on; tables are reused only where it matches."""

    @abstractmethod
    def time_module(self, module: nn.Module, input_shape: tuple[int, ...]) -> Timing:
        """Latency of `module` (in eval mode) on a random input of `input_shape`."""

    def measure_op(self, op: OpShape) -> LatencyEntry:
        return self.time_module(op_module(op), op_input_shape(op, self.batch_size)).entry()

    def build_table(self, ops: Sequence[OpShape], metadata: dict[str, Any] | None = None,
                    progress: bool = True) -> LatencyTable:  # fmt: skip
        """Measure every op, with a progress bar."""
        start = time.perf_counter()
        entries = {}
        bar = tqdm(ops, desc=f"latency table ({self.runtime})", unit="op", disable=not progress)
        for op in bar:
            entries[op] = self.measure_op(op)
        meta = {
            "fingerprint": self.fingerprint().to_dict(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": f"measured by hwnas ({type(self).__name__})",
            "build_seconds": round(time.perf_counter() - start, 2),
            **(metadata or {}),
        }
        return LatencyTable(entries, meta)
