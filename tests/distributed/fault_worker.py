"""Started twice by test_faults.py (LOCAL_RANK 0 and 1, Lightning's external-launch variables):
a DTS fit in which rank 1 dies (`die`) or stops answering (`hang`) at its third step, or is
started with another delay than rank 0 (`mismatch`), or in which every rank gets a SIGTERM at
its third step (`sigterm`, as a scheduler sends one to every process of a job)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir

from hwnas.runs.train_run import build_training
from hwnas.runs.trainer import build_trainer, fit

CONF = str(Path(__file__).resolve().parents[2] / "conf")


class Fault(pl.Callback):
    def __init__(self, mode: str) -> None:
        self.mode = mode

    def on_train_batch_start(
        self, trainer: pl.Trainer, module: pl.LightningModule, batch, batch_idx: int
    ) -> None:
        if self.mode == "sigterm" and batch_idx == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        if trainer.global_rank != 1 or batch_idx != 2 or self.mode == "sigterm":
            return
        if self.mode == "die":
            os._exit(1)
        time.sleep(600)  # hang: alive, but no longer exchanging


def main(out_dir: str, mode: str, timeout_s: str) -> None:
    torch.set_num_threads(1)
    overrides = [
        "debug=train_fast",
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        "+trainer.num_nodes=1",
        "+trainer.enable_progress_bar=false",
        "module.mixup=null",
        "dataset.train_size=512",
        "trainer.limit_train_batches=8",
        "logger=csv",
        "epochs=1",
        "distributed=dts",
        f"dts.timeout_s={timeout_s}",
        f"paths.output_dir={out_dir}",
    ]
    rank = int(os.environ["LOCAL_RANK"])
    overrides.append(f"dts.delay={2 + rank}" if mode == "mismatch" else "dts.delay=2")
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    pl.seed_everything(0, workers=True)
    module, datamodule = build_training(cfg)
    trainer = build_trainer(cfg)
    trainer.callbacks.append(Fault(mode))
    fit(trainer, module, datamodule=datamodule)


if __name__ == "__main__":
    main(*sys.argv[1:])
