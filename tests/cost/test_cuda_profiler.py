"""hardware=gpu: a clear refusal without CUDA (on any machine), and CUDA-event timing where a
GPU is present (`-m gpu`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from hwnas.cost.op_shapes import OpShape
from hwnas.cost.profilers import CudaProfiler

GPU_CONF = Path(__file__).resolve().parents[2] / "conf" / "hardware" / "gpu.yaml"
SMALL = OpShape("conv", 32, 3, 16, 3, 2)
LARGE = OpShape("expanded_conv", 56, 40, 40, 7, 1, 6.0, True)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def fast_profiler(**kwargs) -> CudaProfiler:
    return CudaProfiler(**{"warmup": 2, "min_run_time": 0.05, **kwargs})


def test_refuses_without_cuda_and_says_what_to_do(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="hardware=gpu needs a CUDA device") as err:
        CudaProfiler()
    message = str(err.value)
    assert "torch.cuda.is_available() is False" in message
    assert "hardware=cpu" in message and "hardware=onnxruntime" in message
    assert "hardware.table=PATH" in message


def test_config_refusal_reaches_the_user(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = OmegaConf.load(GPU_CONF)
    assert cfg.name == "gpu" and cfg.cost_model.profiler.batch_size == 8  # the paper's batch
    with pytest.raises(Exception, match="hardware=gpu needs a CUDA device"):
        instantiate(cfg.cost_model.profiler)


@pytest.mark.gpu
@needs_cuda
def test_config_builds_the_profiler() -> None:
    profiler = instantiate(OmegaConf.load(GPU_CONF).cost_model.profiler)
    assert isinstance(profiler, CudaProfiler)
    assert (profiler.batch_size, profiler.channels_last, profiler.dtype) == (8, True, "float32")


@pytest.mark.gpu
@needs_cuda
def test_fingerprint_names_gpu_and_versions() -> None:
    fp = fast_profiler(dtype="float16").fingerprint()
    assert fp.device == torch.cuda.get_device_name()
    assert fp.runtime == "torch-cuda" and torch.version.cuda in fp.runtime_version
    assert torch.__version__ in fp.runtime_version
    assert (fp.batch_size, fp.dtype, fp.threads) == (8, "float16", 0)
    assert fp.options["channels_last"] is True


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_measures_ops_in_proportion_to_their_work(dtype) -> None:
    previous = torch.backends.cudnn.benchmark
    profiler = fast_profiler(dtype=dtype)
    small, large = profiler.measure_op(SMALL), profiler.measure_op(LARGE)
    assert 0 < small.ms < large.ms
    assert small.count >= 10 and large.count >= 10
    assert torch.backends.cudnn.benchmark == previous  # restored after timing


@pytest.mark.gpu
@needs_cuda
def test_timing_counts_queued_gpu_work() -> None:
    # A module that launches kernels asynchronously: host-side timing would see nearly nothing;
    # events around the block must see the matrix products.
    small = fast_profiler(batch_size=1).time_module(torch.nn.Linear(64, 64), (1, 64))
    big = fast_profiler(batch_size=1).time_module(torch.nn.Linear(8192, 8192), (8192, 8192))
    assert big.median_ms > 20 * small.median_ms
