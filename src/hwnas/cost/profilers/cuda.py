"""`gpu`: PyTorch eager inference on a CUDA GPU, batch 8 as in the paper (REFERENCE A4),
timed with CUDA events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from hwnas.cost.fingerprint import HardwareFingerprint
from hwnas.cost.profilers.base import Profiler, Runner
from hwnas.cost.profilers.torch_cpu import module_and_input

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
NO_CUDA = (
    "hardware=gpu needs a CUDA device; torch.cuda.is_available() is False here; use "
    "hardware=cpu or hardware=onnxruntime, or pass a measured table with hardware.table=PATH"
)


class CudaProfiler(Profiler):
    """Eager PyTorch on the current CUDA device under `torch.inference_mode`, with cuDNN's
    autotuner on (it picks each convolution's algorithm during the warm-up runs).

    Args:
        batch_size: 8 by default, the paper's GPU setting.
        channels_last: NHWC weights and inputs (the layout of cuDNN's fast kernels).
        dtype: `float32`, `float16` or `bfloat16`.
        Others as in `Profiler`; the host threads do not matter here and are recorded as 0.
        The estimate is the 10% quantile by default and `min_span` 0: the minimum and a span
        (see `Profiler`) answer the slow phases of a CPU core shared with other processes.

    Raises:
        RuntimeError: where CUDA is not available.
    """

    runtime = "torch-cuda"

    def __init__(
        self,
        batch_size: int = 8,
        warmup: int = 10,
        min_run_time: float = 0.5,
        rounds: int = 3,
        quantile: float = 0.1,
        min_span: float = 0.0,
        channels_last: bool = True,
        dtype: str = "float32",
    ) -> None:
        if not torch.cuda.is_available():
            raise RuntimeError(NO_CUDA)
        super().__init__(batch_size, 0, warmup, min_run_time, rounds, quantile, min_span)
        if dtype not in DTYPES:
            raise ValueError(
                f"unknown hardware.profiler.dtype {dtype!r}; choose one of {list(DTYPES)}"
            )
        self.channels_last, self.dtype = channels_last, dtype

    def fingerprint(self) -> HardwareFingerprint:
        version = (
            f"{torch.__version__} (CUDA {torch.version.cuda}, "
            f"cuDNN {torch.backends.cudnn.version()})"
        )
        return HardwareFingerprint(
            device=torch.cuda.get_device_name(),
            runtime=self.runtime,
            runtime_version=version,
            threads=0,
            batch_size=self.batch_size,
            dtype=self.dtype,
            options={
                "channels_last": self.channels_last,
                "cudnn_benchmark": True,
                **self.estimator_options(),
            },
        )

    @contextmanager
    def measuring(self) -> Iterator[None]:
        previous = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True  # stays on while timing: keeps the chosen algorithms
        try:
            with torch.inference_mode():
                yield
        finally:
            torch.backends.cudnn.benchmark = previous

    def runner(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        module, x = module_and_input(
            module, input_shape, DTYPES[self.dtype], self.channels_last, "cuda"
        )
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def run(number: int) -> float:
            start.record()
            for _ in range(number):
                module(x)
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3  # ms -> s

        with self.measuring():
            run(self.warmup)  # cuDNN autotunes each convolution here
        return run
