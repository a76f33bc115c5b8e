"""Profilers that build latency tables on the machine at hand."""

from hwnas.cost.profilers.base import Profiler, Timing
from hwnas.cost.profilers.cuda import CudaProfiler
from hwnas.cost.profilers.onnx_runtime import OnnxRuntimeProfiler
from hwnas.cost.profilers.torch_cpu import TorchCpuProfiler

__all__ = ["CudaProfiler", "OnnxRuntimeProfiler", "Profiler", "Timing", "TorchCpuProfiler"]
