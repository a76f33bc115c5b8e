"""Profilers that build latency tables on the machine at hand."""

from hwnas.latency.profilers.base import Profiler, Timing
from hwnas.latency.profilers.cuda import CudaProfiler
from hwnas.latency.profilers.onnx_runtime import OnnxRuntimeProfiler
from hwnas.latency.profilers.torch_cpu import TorchCpuProfiler

__all__ = ["CudaProfiler", "OnnxRuntimeProfiler", "Profiler", "Timing", "TorchCpuProfiler"]
