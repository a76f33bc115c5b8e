"""The NCCL path of DTSStrategy (`-m gpu`): the emulated link and both update rules on CUDA
tensors; skipped without a GPU. Two ranks need two GPUs (NCCL refuses two ranks on one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rank_launcher import free_port
from test_single_process import SlowLinear, _loader, _no_process_group_left  # noqa: F401

from hwnas.distributed import DTSStrategy

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize("settings", [{"delay": 2}, {"delay": 1, "period": 3}])
def test_one_gpu_trains_over_nccl_and_pays_the_emulated_latency(tmp_path: Path, settings) -> None:
    import pytorch_lightning as pl

    strategy = DTSStrategy(latency_ms=5, process_group_backend="nccl", **settings)
    module = SlowLinear()
    before = [p.detach().clone() for p in module.parameters()]
    trainer = pl.Trainer(accelerator="gpu", devices=1, strategy=strategy, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, max_steps=12,
                         default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(module, _loader())
    assert torch.distributed.get_backend() == "nccl"
    assert strategy.link.stats.messages >= 3
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
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(free_port()), str(worker), str(tmp_path), "ddp", "dts_t0"]  # fmt: skip
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    ddp = torch.load(tmp_path / "ddp.rank0.pt", weights_only=False)["params"]
    dts = torch.load(tmp_path / "dts_t0.rank0.pt", weights_only=False)["params"]
    for name in ddp:  # NCCL sums in its own order: equal to rounding, not to the bit
        torch.testing.assert_close(dts[name], ddp[name], rtol=1e-5, atol=1e-6)
