"""`onnxruntime`: each op exported to ONNX and timed in an onnxruntime `InferenceSession` on
the CPU, the way a model is usually deployed on a server or desktop CPU."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from hwnas.cost.fingerprint import HardwareFingerprint, cpu_name
from hwnas.cost.onnx_export import DEFAULT_OPSET, export_onnx, import_onnxruntime
from hwnas.cost.profilers.base import Profiler, Runner, Timing

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

    def __init__(
        self,
        batch_size: int = 1,
        threads: int = 1,
        warmup: int = 10,
        min_run_time: float = 0.5,
        rounds: int = 3,
        quantile: float = 0.0,
        min_span: float = 0.0,
        opset: int = DEFAULT_OPSET,
    ) -> None:
        super().__init__(batch_size, threads, warmup, min_run_time, rounds, quantile, min_span)
        self.opset = opset
        self._overhead_ms: float | None = None
        self._ort = import_onnxruntime()

    def fingerprint(self) -> HardwareFingerprint:
        return HardwareFingerprint(
            device=cpu_name(),
            runtime=self.runtime,
            runtime_version=self._ort.__version__,
            threads=self.threads,
            batch_size=self.batch_size,
            dtype="float32",
            options={
                "graph_optimization": self.optimization,
                "provider": PROVIDER,
                "opset": self.opset,
                **self.estimator_options(),
            },
        )

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

    def onnx_runner(self, path: str | Path, input_shape: tuple[int, ...]) -> Runner:
        """The ONNX model at `path` (one float32 input) prepared on a random input."""
        session = self.session(path)
        x = np.random.default_rng(0).standard_normal(input_shape, np.float32)
        feed = {session.get_inputs()[0].name: x}
        outputs = [o.name for o in session.get_outputs()]

        def run(number: int) -> float:
            start = time.perf_counter()
            for _ in range(number):
                session.run(outputs, feed)
            return time.perf_counter() - start

        run(self.warmup)
        return run

    def time_onnx_file(self, path: str | Path, input_shape: tuple[int, ...]) -> Timing:
        """Latency of the ONNX model at `path` on a random input of `input_shape`."""
        return self.time_runners([self.onnx_runner(path, input_shape)])[0]

    def call_overhead_ms(self) -> float:
        """One session run of an identity model on one value: the cost of the call itself."""
        if self._overhead_ms is None:
            self._overhead_ms = self.time_modules([(nn.Identity(), (1, 1, 1, 1))])[0].ms
        return self._overhead_ms

    def runner(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        # the session holds the model in memory: the exported file may go at once
        with tempfile.TemporaryDirectory(prefix="hwnas-ort-") as tmp:
            path = export_onnx(module, input_shape, Path(tmp) / "module.onnx", self.opset)
            return self.onnx_runner(path, input_shape)
