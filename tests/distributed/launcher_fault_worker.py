"""Started once by test_faults.py; Lightning's launcher starts rank 1 from it. A DTS fit of two
epochs in which, at the second epoch's second step (after a sync point wrote last.ckpt), one
rank is killed (`kill0`, `kill1`), raises (`raise0`, `raise1`) or is stopped (`stop1`).
Each rank that gets to the end of its fit, by an error or not, writes `exit.rank<r>`."""

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
    def __init__(self, mode: str, out: Path) -> None:
        self.action, self.rank, self.out = mode[:-1], int(mode[-1]), out

    def on_train_batch_start(
        self, trainer: pl.Trainer, module: pl.LightningModule, batch, batch_idx: int
    ) -> None:
        if trainer.global_rank != self.rank or (trainer.current_epoch, batch_idx) != (1, 1):
            return
        (self.out / "fault_time").write_text(str(time.time()))
        if self.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.action == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)
        raise ValueError(f"injected failure at step {trainer.global_step}")


def main(out_dir: str, mode: str, timeout_s: str) -> None:
    torch.set_num_threads(1)
    out = Path(out_dir)
    overrides = [
        "debug=train_fast",
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        "+trainer.enable_progress_bar=false",
        "module.mixup=null",
        "module.ema=null",
        "logger=csv",
        "distributed=dts",
        "dts.delay=2",
        f"dts.timeout_s={timeout_s}",
        f"paths.output_dir={out_dir}",
    ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    pl.seed_everything(0, workers=True)
    module, datamodule = build_training(cfg)
    trainer = build_trainer(cfg)
    trainer.callbacks.append(Fault(mode, out))
    try:
        fit(trainer, module, datamodule=datamodule)
    except BaseException as error:
        (out / f"exit.rank{trainer.global_rank}").write_text(type(error).__name__)
        raise
    (out / f"exit.rank{trainer.global_rank}").write_text("finished")


if __name__ == "__main__":
    main(*sys.argv[1:])
