"""A rank that dies or hangs stops the others with a clear error within the timeout, never a
hang forever; the survivor keeps its checkpoint (REFERENCE B6: workers that die mid-exchange
without deadlock)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from rank_launcher import free_port

WORKER = Path(__file__).with_name("fault_worker.py")
TIMEOUT_S = 8


def _launch(out: Path, mode: str) -> tuple[subprocess.CompletedProcess, float]:
    port = str(free_port())
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": port, "WORLD_SIZE": "2", "NODE_RANK": "0", "LOCAL_RANK": str(rank)}  # fmt: skip
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(out), mode, str(TIMEOUT_S)],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))  # fmt: skip
    start = time.perf_counter()
    try:
        stdout, stderr = procs[0].communicate(timeout=180)
        elapsed = time.perf_counter() - start
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return subprocess.CompletedProcess(procs[0].args, procs[0].returncode, stdout, stderr), elapsed


@pytest.mark.parametrize("mode", ["die", "hang"])
def test_a_lost_peer_stops_the_survivor_with_a_clear_error(tmp_path: Path, mode: str) -> None:
    result, elapsed = _launch(tmp_path, mode)
    assert result.returncode != 0
    assert "PeerError" in result.stderr and "a peer process died, hung or left" in result.stderr
    if mode == "hang":
        assert f"within {TIMEOUT_S} s" in result.stderr
    # no hang: start-up and a few steps, plus the timeout for a silent peer
    assert elapsed < 60 + (TIMEOUT_S if mode == "hang" else 0)
    saved = torch.load(tmp_path / "checkpoints" / "interrupted.ckpt", weights_only=False)
    assert saved["dts"]["synchronized"] is False  # this rank's replica, said so


def test_ranks_started_with_different_settings_stop_at_start(tmp_path: Path) -> None:
    result, _ = _launch(tmp_path, "mismatch")
    assert result.returncode != 0
    assert "different DTS settings (rank 0: delay=2; rank 1: delay=3)" in result.stderr
    assert not (tmp_path / "checkpoints" / "last.ckpt").exists()  # nothing trained


def test_a_sigterm_to_every_rank_stops_the_run_with_its_resume_hint(tmp_path: Path) -> None:
    """DTS checks Lightning's SIGTERM flag on each rank without its per-batch broadcast: the
    run still stops at the signalled step, non-zero, and names the checkpoint it wrote."""
    result, elapsed = _launch(tmp_path, "sigterm")
    assert result.returncode != 0, result.stderr[-3000:]
    assert "stopped by SIGTERM at epoch 0, step 3" in result.stderr, result.stderr[-3000:]
    assert "resume with ckpt_path=" in result.stderr
    assert (tmp_path / "checkpoints" / "interrupted.ckpt").exists()
    assert elapsed < 60
