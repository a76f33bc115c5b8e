"""Profilers measure the latency of a module on one device and runtime; from single ops they
build a `LatencyTable`, from whole networks they give the end-to-end figure it must predict."""

from __future__ import annotations

import contextlib
import math
import random
import statistics
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hwnas.cost.fingerprint import HardwareFingerprint
from hwnas.cost.op_modules import op_input_shape, op_module
from hwnas.cost.op_shapes import OpShape
from hwnas.cost.table import LatencyEntry, LatencyTable


@dataclass(frozen=True)
class Timing:
    """Latency of one module in ms over `count` timed runs. `ms` is the estimate a table
    keeps: a low quantile of the block times, the latency when nothing competes for the
    device; median, mean and spread describe all blocks."""

    ms: float
    median_ms: float
    mean_ms: float
    std_ms: float
    count: int

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float], count: int, quantile: float = 0.5) -> Timing:
        """From per-run times, each the average of a block of back-to-back runs."""
        if not samples_ms:
            raise ValueError("no timing samples")
        ordered = sorted(samples_ms)
        low = ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]
        std = statistics.stdev(ordered) if len(ordered) > 1 else 0.0
        return cls(low, statistics.median(ordered), statistics.fmean(ordered), std, count)

    def entry(self, minus_ms: float = 0.0) -> LatencyEntry:
        """As a table entry, less a fixed `minus_ms` (a runtime's per-call overhead)."""

        def less(v: float) -> float:
            return max(v - minus_ms, 0.0)

        return LatencyEntry(
            less(self.mean_ms), self.std_ms, self.count, less(self.median_ms), less(self.ms)
        )


BLOCK_SECONDS = 0.01  # like torch.utils.benchmark: blocks of >= 10 ms average out timer jitter
MIN_BLOCKS = 10  # short min_run_time (tests) shrinks the blocks rather than the repeats


def blocked_autorange(
    run_block: Callable[[int], float], min_run_time: float
) -> tuple[list[float], int]:
    """Time repeated runs as `torch.utils.benchmark.Timer.blocked_autorange` does: choose
    the runs per block so that a block lasts at least ~10 ms (less where `min_run_time` is
    short), then time blocks until `min_run_time` seconds are spent.

    Args:
        run_block: runs the module `n` times and returns the seconds it took.
        min_run_time: seconds of timed blocks.

    Returns:
        The per-run time (ms) of each block, and the number of runs timed.
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
    return samples_ms, len(samples_ms) * number


Runner = Callable[[int], float]  # runs the prepared module n times, returns the seconds taken


@contextlib.contextmanager
def untouched_random_state() -> Iterator[None]:
    """Run the block, then put every generator a seeded run draws from (torch on the CPU and on
    CUDA, numpy, Python's) back as it was: the run that builds a latency table then derives the
    same architecture as the runs that find it in the cache."""
    numpy_state, python_state = np.random.get_state(), random.getstate()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


class Profiler(ABC):
    """Times modules on one device and runtime.

    Shared machines have slow phases (a neighbour on the same core) that last from
    milliseconds to minutes, long enough to hold every repeat of a module timed in one go. So
    modules are timed in `rounds`, round-robin (every module once per round), and the estimate
    is a low `quantile` of all their block times: the latency of the device when nothing else
    competes for it (the minimum by default, the estimator that noise can only push up: Chen
    and Revels, "Robust benchmarking in noisy environments", 2016). Each round is one moment
    of the measurement, so the rounds must be many: where one moment in eight is quiet, 10
    rounds miss every quiet one for about a quarter of the modules, 40 for under 1%. A
    measurement spans at least `min_span` seconds: a table's many modules span it anyway, a
    network timed on its own (eval.py) is timed for that long, or its estimate depends on the
    phase it happened to fall in. Tables and end-to-end validation are measured alike.

    Args:
        batch_size: of the measured inputs.
        threads: intra-op threads.
        warmup: untimed runs before timing (caches, allocator, autotuning); every round
            starts with warmup // rounds more.
        min_run_time: seconds of timed runs per module, split over the rounds.
        rounds: round-robin passes over the modules.
        quantile: of the block times, the estimate (0: the minimum, 0.5: the median).
        min_span: seconds that the timed runs of one measurement span at least; where the
            modules' `min_run_time` falls short, each module is timed for longer.
    """

    runtime: str = ""

    def __init__(
        self,
        batch_size: int = 1,
        threads: int = 1,
        warmup: int = 10,
        min_run_time: float = 0.5,
        rounds: int = 3,
        quantile: float = 0.0,
        min_span: float = 0.0,
    ) -> None:
        if (
            batch_size < 1
            or threads < 0
            or min_run_time <= 0
            or rounds < 1
            or not 0 <= quantile <= 1
            or min_span < 0
        ):
            raise ValueError(
                f"{type(self).__name__}: batch_size must be >= 1, threads >= 0, "
                f"min_run_time > 0, rounds >= 1, 0 <= quantile <= 1 and min_span >= 0 (got "
                f"{batch_size}, {threads}, {min_run_time}, {rounds}, {quantile}, {min_span})"
            )
        self.batch_size, self.threads = batch_size, threads
        self.warmup, self.min_run_time, self.rounds = warmup, min_run_time, rounds
        self.quantile, self.min_span = quantile, min_span

    @abstractmethod
    def fingerprint(self) -> HardwareFingerprint:
        """What this profiler measures on; tables are reused only where it matches."""

    def estimator_options(self) -> dict[str, Any]:
        """How a latency is estimated, for every profiler's fingerprint: a table measured with
        another estimate or fewer rounds is measured again rather than reused."""
        return {"quantile": self.quantile, "rounds": self.rounds}

    @abstractmethod
    def runner(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        """`module` (in eval mode) prepared to run on a random input of `input_shape`."""

    def call_overhead_ms(self) -> float:
        """The fixed cost of one call into the runtime, paid once per network rather than once
        per op (e.g. an onnxruntime session run); 0 where ops run as in the network."""
        return 0.0

    def measuring(self) -> AbstractContextManager[None]:
        """Settings held while timing (threads, inference mode, ...)."""
        return nullcontext()

    def _seconds_per_module(self, modules: int) -> float:
        return max(self.min_run_time, self.min_span / max(modules, 1))

    def planned_seconds(self, modules: int) -> float:
        """About how long timing `modules` modules together takes: their timed runs, without
        the warm-up runs."""
        return self._seconds_per_module(modules) * max(modules, 1)

    def time_runners(self, runners: Sequence[Runner], progress: str | None = None) -> list[Timing]:
        """Time every runner in round-robin rounds that span at least `min_span` seconds."""
        seconds = self._seconds_per_module(len(runners))
        per_round = seconds / self.rounds
        samples: list[list[float]] = [[] for _ in runners]
        counts = [0] * len(runners)
        bar = tqdm(total=len(runners) * self.rounds, desc=progress, disable=progress is None)
        with self.measuring(), bar:
            for _ in range(self.rounds):
                for i, run in enumerate(runners):
                    if rewarm := self.warmup // self.rounds:  # caches are cold again; the
                        run(rewarm)  # first, untimed run of blocked_autorange warms them too
                    block_ms, runs = blocked_autorange(run, per_round)
                    samples[i] += block_ms
                    counts[i] += runs
                    bar.update()
        return [
            Timing.from_samples(s, c, self.quantile) for s, c in zip(samples, counts, strict=True)
        ]

    def time_modules(
        self, modules: Sequence[tuple[nn.Module, tuple[int, ...]]], progress: str | None = None
    ) -> list[Timing]:
        """Latency of each (module, input shape)."""
        with self.measuring():
            runners = [self.runner(m, shape) for m, shape in modules]
        return self.time_runners(runners, progress)

    def time_module(self, module: nn.Module, input_shape: tuple[int, ...]) -> Timing:
        return self.time_modules([(module, input_shape)])[0]

    def measure_op(self, op: OpShape) -> LatencyEntry:
        return self.time_module(op_module(op), op_input_shape(op, self.batch_size)).entry()

    def build_table(
        self, ops: Sequence[OpShape], metadata: dict[str, Any] | None = None, progress: bool = True
    ) -> LatencyTable:
        """Measure every op, with a progress bar."""
        return self.measure(ops, [], metadata, progress)[0]

    def measure(
        self,
        ops: Sequence[OpShape],
        modules: Sequence[tuple[nn.Module, tuple[int, ...]]],
        metadata: dict[str, Any] | None = None,
        progress: bool = True,
    ) -> tuple[LatencyTable, list[Timing]]:
        """The table of `ops` and the latency of other `modules`, timed in the same rounds
        (so that a change of the machine's load affects both alike). A runtime's fixed cost
        per call (`call_overhead_ms`) is taken off every op and kept once in the metadata."""
        start = time.perf_counter()
        with untouched_random_state():  # measuring must not change what a seeded run draws next
            op_modules = [(op_module(op), op_input_shape(op, self.batch_size)) for op in ops]
            desc = f"latency table ({self.runtime})" if progress else None
            timings = self.time_modules([*op_modules, *modules], desc)
        overhead = self.call_overhead_ms()
        entries = {op: t.entry(minus_ms=overhead) for op, t in zip(ops, timings, strict=False)}
        meta = {
            "fingerprint": self.fingerprint().to_dict(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": f"measured by hwnas ({type(self).__name__})",
            "estimate": f"quantile {self.quantile} of the block times over {self.rounds} "
            "round-robin rounds",
            "call_overhead_ms": overhead,
            "build_seconds": round(time.perf_counter() - start, 2),
            **(metadata or {}),
        }
        return LatencyTable(entries, meta), timings[len(ops) :]
