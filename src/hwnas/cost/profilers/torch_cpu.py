"""`cpu`: PyTorch eager inference on the CPU."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from hwnas.cost.fingerprint import HardwareFingerprint, cpu_name
from hwnas.cost.profilers import steady_malloc
from hwnas.cost.profilers.base import Profiler, Runner

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def module_and_input(
    module: nn.Module,
    input_shape: tuple[int, ...],
    dtype: torch.dtype,
    channels_last: bool,
    device: str = "cpu",
) -> tuple[nn.Module, torch.Tensor]:
    """`module` in eval mode on `device` in `dtype`, and a random input for it (NHWC both if
    `channels_last`)."""
    module = module.eval().to(device, dtype)
    x = torch.randn(input_shape, device=device, dtype=dtype)
    if channels_last and x.dim() == 4:
        module = module.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return module, x


class TorchCpuProfiler(Profiler):
    """Eager PyTorch on the CPU, batch 1 by default, under `torch.inference_mode`.

    Args:
        channels_last: NHWC weights and inputs (depthwise convolutions run faster in NHWC on
            CPUs).
        dtype: `float32` or `bfloat16`.
        keep_heap: stop glibc from handing activation memory back to the OS between runs
            (see `steady_malloc`; a caching allocator, as deployments use).
        Others as in `Profiler`.
    """

    runtime = "torch-eager"

    def __init__(
        self,
        batch_size: int = 1,
        threads: int = 1,
        warmup: int = 10,
        min_run_time: float = 0.5,
        rounds: int = 3,
        quantile: float = 0.0,
        min_span: float = 0.0,
        channels_last: bool = True,
        dtype: str = "float32",
        keep_heap: bool = True,
    ) -> None:
        super().__init__(batch_size, threads, warmup, min_run_time, rounds, quantile, min_span)
        if dtype not in DTYPES:
            raise ValueError(
                f"unknown hardware.profiler.dtype {dtype!r}; choose one of {list(DTYPES)}"
            )
        if threads < 1:
            raise ValueError("the cpu profiler needs hardware.profiler.threads >= 1")
        self.channels_last, self.dtype = channels_last, dtype
        self.keep_heap = keep_heap and steady_malloc.keep_heap()

    def fingerprint(self) -> HardwareFingerprint:
        return HardwareFingerprint(
            device=cpu_name(),
            runtime=self.runtime,
            runtime_version=torch.__version__,
            threads=self.threads,
            batch_size=self.batch_size,
            dtype=self.dtype,
            options={
                "channels_last": self.channels_last,
                "keep_heap": self.keep_heap,
                **self.estimator_options(),
            },
        )

    @contextmanager
    def measuring(self) -> Iterator[None]:
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                yield
        finally:
            torch.set_num_threads(previous)

    def runner(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        module, x = module_and_input(module, input_shape, DTYPES[self.dtype], self.channels_last)

        def run(number: int) -> float:
            start = time.perf_counter()
            for _ in range(number):
                module(x)
            return time.perf_counter() - start

        with self.measuring():
            run(self.warmup)
        return run
