"""`onnxruntime`: each op exported to ONNX and timed in an onnxruntime `InferenceSession` on
the CPU, the way a model is usually deployed on a server or desktop CPU."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from hwnas.latency.fingerprint import HardwareFingerprint, cpu_name
from hwnas.latency.onnx_export import DEFAULT_OPSET, export_onnx, import_onnxruntime
from hwnas.latency.profilers.base import Profiler, Timing, blocked_autorange

PROVIDER = "CPUExecutionProvider"


class OnnxRuntimeProfiler(Profiler):
    """onnxruntime on the CPU (CPUExecutionProvider, all graph optimisations, sequential
    execution), float32, batch 1 by default.

    Args:
        opset: ONNX opset of the exported ops.
        Others as in `Profiler`; `threads` is onnxruntime's intra-op thread count (0 lets it
        use every core).
    """

    runtime = "onnxruntime"
    optimization = "ORT_ENABLE_ALL"

    def __init__(self, batch_size: int = 1, threads: int = 1, warmup: int = 10,
                 min_run_time: float = 0.5, opset: int = DEFAULT_OPSET) -> None:  # fmt: skip
        super().__init__(batch_size, threads, warmup, min_run_time)
        self.opset = opset
        self._ort = import_onnxruntime()

    def fingerprint(self) -> HardwareFingerprint:
        return HardwareFingerprint(
            device=cpu_name(), runtime=self.runtime, runtime_version=self._ort.__version__,
            threads=self.threads, batch_size=self.batch_size, dtype="float32",
            options={"graph_optimization": self.optimization, "provider": PROVIDER,
                     "opset": self.opset},
        )  # fmt: skip

    def session(self, path: str | Path) -> Any:
        """An inference session on `path` with this profiler's settings."""
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, self.optimization)
        options.log_severity_level = 3  # errors only
        return ort.InferenceSession(str(path), options, providers=[PROVIDER])

    def time_onnx_file(self, path: str | Path, input_shape: tuple[int, ...]) -> Timing:
        """Latency of the ONNX model at `path` (one float32 input) on a random input of
        `input_shape`."""
        session = self.session(path)
        x = np.random.default_rng(0).standard_normal(input_shape, np.float32)
        feed = {session.get_inputs()[0].name: x}
        outputs = [o.name for o in session.get_outputs()]
        for _ in range(self.warmup):
            session.run(outputs, feed)

        def run_block(number: int) -> float:
            start = time.perf_counter()
            for _ in range(number):
                session.run(outputs, feed)
            return time.perf_counter() - start

        return blocked_autorange(run_block, self.min_run_time)

    def time_module(self, module: nn.Module, input_shape: tuple[int, ...]) -> Timing:
        with tempfile.TemporaryDirectory(prefix="hwnas-ort-") as tmp:
            path = export_onnx(module, input_shape, Path(tmp) / "module.onnx", self.opset)
            return self.time_onnx_file(path, input_shape)
