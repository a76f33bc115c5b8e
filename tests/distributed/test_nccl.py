"""The NCCL path of DTSStrategy (`-m gpu`): the emulated link and both update rules on CUDA
tensors; skipped without a GPU. Two ranks need two GPUs (NCCL refuses two ranks on one)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from rank_launcher import free_port
from test_single_process import SlowLinear, _loader, _no_process_group_left  # noqa: F401

from hwnas.distributed import DTSStrategy, EmulatedLink

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_the_emulated_latency_counts_from_when_the_gpu_has_the_gradient() -> None:
    """The host reaches the exchange long before a queued kernel has produced the payload:
    the issue time must be when the payload exists, or the emulated latency would be hidden
    behind the GPU's own queue."""
    link = EmulatedLink(latency_ms=1.0)
    payload = torch.ones(1000, device="cuda")
    torch.cuda.synchronize()
    start = time.perf_counter()
    torch.cuda._sleep(200_000_000)  # spin the GPU for tens of milliseconds
    payload.mul_(2)
    message = link.all_reduce_mean(payload)
    torch.cuda.synchronize()
    ready = time.perf_counter()
    stamp = message.buffer[message.size :].double().cpu()
    issued = link.origin + float(stamp[0] + stamp[1])
    assert ready - start > 0.02, "the GPU spin was too short to tell"
    assert issued >= start + 0.9 * (ready - start)
    assert float(message.wait()[0]) == 2.0


@pytest.mark.parametrize("settings", [{"delay": 2}, {"delay": 1, "period": 3}])
def test_one_gpu_trains_over_nccl_and_pays_the_emulated_latency(tmp_path: Path, settings) -> None:
    import pytorch_lightning as pl

    strategy = DTSStrategy(latency_ms=5, process_group_backend="nccl", **settings)
    module = SlowLinear()
    before = [p.detach().clone() for p in module.parameters()]
    trainer = pl.Trainer(
        accelerator="gpu",
        devices=1,
        strategy=strategy,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        max_steps=12,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, _loader())
    assert torch.distributed.get_backend() == "nccl"
    assert strategy.engine.link.stats.messages >= 3
    moved = [
        float((p.detach().cpu() - b.cpu()).abs().max())
        for p, b in zip(module.parameters(), before, strict=True)
    ]
    assert max(moved) > 0
    assert all(torch.isfinite(p).all() for p in module.parameters())


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="two ranks need two GPUs")
def test_two_gpus_match_ddp_and_resume_exactly(tmp_path: Path) -> None:
    worker = Path(__file__).with_name("lightning_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HWNAS_TEST_ACCELERATOR": "gpu"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(worker),
        str(tmp_path),
        "ddp",
        "dts_t0",
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    ddp = torch.load(tmp_path / "ddp.rank0.pt", weights_only=False)["params"]
    dts = torch.load(tmp_path / "dts_t0.rank0.pt", weights_only=False)["params"]
    for name in ddp:  # NCCL sums in its own order: equal to rounding, not to the bit
        torch.testing.assert_close(dts[name], ddp[name], rtol=1e-5, atol=1e-6)
