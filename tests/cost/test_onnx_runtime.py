"""hardware=onnxruntime: the blocked timing loop, the profiler on real ops, its fingerprint,
and its config; ONNX export names and silence."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import onnxruntime as ort
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from hwnas.cost.onnx_export import export_onnx
from hwnas.cost.op_modules import op_input_shape, op_module
from hwnas.cost.op_shapes import OpShape
from hwnas.cost.profilers import OnnxRuntimeProfiler
from hwnas.cost.profilers.base import Timing, blocked_autorange

CONF = Path(__file__).resolve().parents[2] / "conf"
SMALL = OpShape("conv", 16, 3, 8, 3, 2)
LARGE = OpShape("expanded_conv", 56, 24, 24, 7, 1, 6.0, True)


def fast_profiler(**kwargs) -> OnnxRuntimeProfiler:
    return OnnxRuntimeProfiler(**{"threads": 1, "warmup": 2, "min_run_time": 0.03, **kwargs})


def test_blocked_autorange_sizes_blocks_and_spends_min_run_time() -> None:
    calls = []

    def run_block(number: int) -> float:  # a fake module of exactly 1 ms per run
        calls.append(number)
        return number * 1e-3

    samples, count = blocked_autorange(run_block, min_run_time=0.5)
    assert calls[:2] == [1, 10]  # calibration: 1 run is under 10 ms, 10 runs reach it
    assert calls[2:] == [10] * 50  # then 10 ms blocks until 0.5 s are spent
    timing = Timing.from_samples(samples, count)
    assert timing.median_ms == pytest.approx(1.0) == timing.ms
    assert timing.std_ms == pytest.approx(0.0, abs=1e-9)
    assert timing.count == 500


def test_blocked_autorange_short_run_time_keeps_ten_blocks() -> None:
    samples, count = blocked_autorange(lambda n: n * 2e-4, min_run_time=0.02)  # 0.2 ms per run
    assert count // 10 >= 10 and len(samples) >= 10  # blocks of 2 ms (10 runs), at least 10
    assert Timing.from_samples(samples, count).mean_ms == pytest.approx(0.2)


def test_estimate_is_a_low_quantile_of_the_blocks() -> None:
    slow_phase = [1.8] * 60 + [1.0] * 40  # a neighbour took the core for most of the run
    timing = Timing.from_samples(slow_phase, 100, quantile=0.1)
    assert timing.ms == 1.0 and timing.median_ms == 1.8


def test_profiler_measures_ops_in_proportion_to_their_work() -> None:
    profiler = fast_profiler()
    small, large = profiler.measure_op(SMALL), profiler.measure_op(LARGE)
    assert 0 < small.ms < large.ms
    assert large.ms > 5 * small.ms  # ~1000x the multiply-adds
    assert small.count >= 10 and small.median_ms is not None


def test_time_onnx_file_times_an_exported_model(tmp_path) -> None:
    shape = op_input_shape(SMALL, 1)
    path = export_onnx(op_module(SMALL), shape, tmp_path / "small.onnx")
    timing = fast_profiler().time_onnx_file(path, shape)
    assert timing.median_ms > 0 and timing.count >= 10


def test_fingerprint_names_runtime_and_settings() -> None:
    fp = fast_profiler(threads=2, batch_size=4).fingerprint()
    assert (fp.runtime, fp.runtime_version) == ("onnxruntime", ort.__version__)
    assert (fp.threads, fp.batch_size, fp.dtype) == (2, 4, "float32")
    assert fp.options["graph_optimization"] == "ORT_ENABLE_ALL"
    assert fp.options["provider"] == "CPUExecutionProvider"
    assert fast_profiler(threads=1).fingerprint().digest != fp.digest


def test_session_uses_the_requested_settings(tmp_path) -> None:
    path = export_onnx(op_module(SMALL), op_input_shape(SMALL, 1), tmp_path / "s.onnx")
    session = fast_profiler(threads=1).session(path)
    options = session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert session.get_providers() == ["CPUExecutionProvider"]


def test_export_names_input_and_output_and_warns_nothing(tmp_path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        path = export_onnx(op_module(LARGE), (2, 24, 56, 56), tmp_path / "sub" / "large.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["output"]
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 24, 56, 56]


def test_config_builds_the_profiler() -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="latency", overrides=["hardware=onnxruntime"]).hardware
    assert cfg.name == "onnxruntime"
    profiler = instantiate(cfg.cost_model.profiler)
    assert isinstance(profiler, OnnxRuntimeProfiler)
    assert (profiler.batch_size, profiler.threads, profiler.min_run_time) == (1, 1, 1.0)
    assert (profiler.rounds, profiler.quantile, profiler.min_span) == (40, 0.0, 20.0)
