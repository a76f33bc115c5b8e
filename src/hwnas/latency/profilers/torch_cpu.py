"""`cpu`: PyTorch eager inference on the CPU."""

from __future__ import annotations

import time

import torch
from torch import nn

from hwnas.latency.fingerprint import HardwareFingerprint, cpu_name
from hwnas.latency.profilers.base import Profiler, Timing, blocked_autorange

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class TorchCpuProfiler(Profiler):
    """Eager PyTorch on the CPU, batch 1 by default, under `torch.inference_mode`.

    Args:
        channels_last: NHWC weights and inputs (about 2x faster depthwise convolutions here).
        dtype: `float32` or `bfloat16`.
        Others as in `Profiler`.
    """

    runtime = "torch-eager"

    def __init__(self, batch_size: int = 1, threads: int = 1, warmup: int = 10,
                 min_run_time: float = 0.5, channels_last: bool = True,
                 dtype: str = "float32") -> None:  # fmt: skip
        super().__init__(batch_size, threads, warmup, min_run_time)
        if dtype not in DTYPES:
            raise ValueError(
                f"unknown hardware.profiler.dtype {dtype!r}; choose one of {list(DTYPES)}"
            )
        if threads < 1:
            raise ValueError("the cpu profiler needs hardware.profiler.threads >= 1")
        self.channels_last, self.dtype = channels_last, dtype

    def fingerprint(self) -> HardwareFingerprint:
        return HardwareFingerprint(
            device=cpu_name(), runtime=self.runtime, runtime_version=torch.__version__,
            threads=self.threads, batch_size=self.batch_size, dtype=self.dtype,
            options={"channels_last": self.channels_last},
        )  # fmt: skip

    def _prepare(
        self, module: nn.Module, input_shape: tuple[int, ...]
    ) -> tuple[nn.Module, torch.Tensor]:
        dtype = DTYPES[self.dtype]
        module = module.eval().to(dtype)
        x = torch.randn(input_shape, dtype=dtype)
        if self.channels_last and x.dim() == 4:
            module = module.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        return module, x

    def time_module(self, module: nn.Module, input_shape: tuple[int, ...]) -> Timing:
        module, x = self._prepare(module, input_shape)
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                for _ in range(self.warmup):
                    module(x)

                def run_block(number: int) -> float:
                    start = time.perf_counter()
                    for _ in range(number):
                        module(x)
                    return time.perf_counter() - start

                return blocked_autorange(run_block, self.min_run_time)
        finally:
            torch.set_num_threads(previous)
