"""Shared fixtures: a tiny search space and the repository's config directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from hwnas.architecture import macs
from hwnas.search_space import SearchSpace

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def _load_space(
    name: str, in_channels: int = 3, input_size: int = 32, num_classes: int = 10, **overrides
) -> SearchSpace:
    cfg = OmegaConf.load(CONF / "search_space" / f"{name}.yaml")
    return instantiate(
        cfg, in_channels=in_channels, input_size=input_size, num_classes=num_classes, **overrides
    )


# One thread per process: on two shared cores, a second thread of every test's tensor ops only
# contends with the other processes (a subprocess inherits OMP_NUM_THREADS).
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _latency_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Latency tables built by tests go to one temporary cache, never to ~/.cache."""
    monkeypatch.setenv("HWNAS_CACHE", str(tmp_path_factory.getbasetemp() / "hwnas-cache"))


def _hooked_macs(model: torch.nn.Module, input_size: int = 224) -> int:
    """Multiply-adds of every Conv2d and Linear, counted by forward hooks on a 3-channel input."""
    return macs.count_macs(model, (1, 3, input_size, input_size))


@pytest.fixture
def count_macs():
    """`count_macs(model, input_size=224)`: multiply-adds measured by hooks, to check the
    analytic counts against."""
    return _hooked_macs


@pytest.fixture
def tiny_space() -> SearchSpace:
    return _load_space("tiny", in_channels=3, input_size=16, num_classes=4)


@pytest.fixture(name="load_space")
def load_space_fixture():
    """`load_space(name, in_channels, input_size, num_classes, **overrides)` from conf/."""
    return _load_space


class _StopAfterFirstEpoch(pl.Callback):
    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        trainer.should_stop = True


def _fit_search(cfg, stop_early: bool = False):
    from hwnas.runs.search_run import build_search
    from hwnas.runs.trainer import build_trainer, fit

    pl.seed_everything(0, workers=True)
    module, datamodule = build_search(cfg)
    trainer = build_trainer(cfg)
    if stop_early:
        trainer.callbacks.append(_StopAfterFirstEpoch())
    fit(trainer, module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    return module


@pytest.fixture
def fit_search():
    """`fit_search(cfg, stop_early=False)`: seed 0, fit the search of a composed config (only
    its first epoch with `stop_early`, the schedule still that of every epoch) and return the
    SearchModule; for tests that compare a resumed search with an unbroken one."""
    return _fit_search


SWEEP_TARGETS = "0.2,0.3"  # ms on the phone model: the tiny space's nets cost 0.15-0.35 ms


@pytest.fixture(scope="session")
def debug_sweep(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real Hydra multirun of 4 `debug=fast` searches (2 targets x csv and wandb loggers),
    then `python -m hwnas.report` over it, as a user types them; with their wall time."""
    import os
    import subprocess
    import sys
    import time

    sweep = tmp_path_factory.mktemp("sweep") / "multirun"
    env = {
        **os.environ,
        "HWNAS_CACHE": str(tmp_path_factory.getbasetemp() / "hwnas-cache"),
        "WANDB_SILENT": "true",
    }
    start = time.perf_counter()
    search = subprocess.run(
        [
            sys.executable,
            "search.py",
            "-m",
            "debug=fast",
            f"cost_loss.target={SWEEP_TARGETS}",
            "logger=csv,wandb",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert search.returncode == 0, search.stderr[-3000:]
    report = subprocess.run(
        [sys.executable, "-m", "hwnas.report", str(sweep)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    return {
        "folder": sweep,
        "seconds": time.perf_counter() - start,
        "env": env,
        "runs": sorted(p.parent for p in sweep.glob("*/summary.json")),
    }
