"""Short `train.py` fits (tiny net, synthetic data) for test_strategy.py, one per arm, run under
torchrun by fits_worker.py (or, for the NCCL test, by itself) in one pair of processes; every rank
saves its final weights per arm.

Arms: Lightning's DDP; DTS with delay 0 (synchronous SGD); DTS with delay 3 over two epochs,
unbroken, stopped after the first epoch, and resumed from that stop's last.ckpt; the sparse
update with a delay and DiLoCo's outer step; a synchronous warm-up longer than the run (delay 3
configured), and one followed by the sparse update; and, with every rank reading rank 0's
batches, delay 0, delay 3, and delay 3 without the correction."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from torch.utils.data import DataLoader, DistributedSampler

from hwnas.runs.train_run import build_training
from hwnas.runs.trainer import build_trainer

CONF = str(Path(__file__).resolve().parents[2] / "conf")
ACCELERATOR = os.environ.get("HWNAS_TEST_ACCELERATOR", "cpu")  # gpu: the NCCL test
COMMON = [
    "debug=train_fast",
    "trainer=ddp",
    "trainer.devices=2",
    f"trainer.accelerator={ACCELERATOR}",
    "+trainer.num_nodes=1",
    "+trainer.enable_progress_bar=false",
    "module.mixup=null",
    "module.warmup_epochs=0",
    "dataset.train_size=512",
    "trainer.limit_train_batches=5",
    "trainer.limit_val_batches=1",
    "logger=csv",
    "optimizer.lr=0.2",
]
DTS = ["distributed=dts", "dts.timeout_s=60"]
ARMS = {
    "ddp": ["epochs=1"],
    "dts_t0": [*DTS, "dts.delay=0", "epochs=1"],
    "unbroken": [*DTS, "dts.delay=3", "epochs=2"],
    "broken": [*DTS, "dts.delay=3", "epochs=2"],
    "resumed": [*DTS, "dts.delay=3", "epochs=2", "ckpt_path={out}/broken/checkpoints/last.ckpt"],
    "sparse": [*DTS, "dts.delay=2", "dts.period=3", "dts.outer_optimizer=nesterov", "epochs=2"],
    "warmup_all": [*DTS, "dts.delay=3", "dts.sync_warmup_steps=100", "epochs=1"],
    "warmup_sparse": [*DTS, "dts.delay=1", "dts.period=2", "dts.sync_warmup_steps=4", "epochs=2"],
    # every rank reads the same batches: the delayed update must then be synchronous SGD
    "same_data_t0": [*DTS, "dts.delay=0", "epochs=2"],
    "same_data_t3": [*DTS, "dts.delay=3", "epochs=2"],
    "same_data_stale": [*DTS, "dts.delay=3", "dts.correction=false", "epochs=2"],
}
SAME_DATA = {"same_data_t0", "same_data_t3", "same_data_stale"}


BROADCASTS = [0]  # torch.distributed.broadcast calls so far


def count_broadcasts() -> None:
    """From now on, count this process's torch.distributed.broadcast calls in BROADCASTS."""
    broadcast = torch.distributed.broadcast

    def counting(*args, **kwargs):
        BROADCASTS[0] += 1
        return broadcast(*args, **kwargs)

    torch.distributed.broadcast = counting


class CountBroadcasts(pl.Callback):
    """Broadcasts between two training batches of one epoch (Lightning's DDP runs one before
    every batch, for its SIGTERM flag)."""

    def __init__(self) -> None:
        self.between: list[int] = []
        self.last: int | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.last = None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if self.last is not None:
            self.between.append(BROADCASTS[0] - self.last)
        self.last = BROADCASTS[0]


class StopAfterFirstEpoch(pl.Callback):
    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        trainer.should_stop = True


def read_rank_zeros_batches(datamodule: pl.LightningDataModule) -> None:
    """Every rank trains on rank 0's share, in rank 0's order (augmentation, mixup and dropout
    draw from the seeded generators, the same on every rank)."""
    datamodule.setup("fit")

    def train_dataloader() -> DataLoader:
        sampler = DistributedSampler(datamodule.train_set, 2, 0, shuffle=True, seed=datamodule.seed)
        return DataLoader(
            datamodule.train_set, batch_size=datamodule.batch_size, sampler=sampler, drop_last=True
        )

    datamodule.train_dataloader = train_dataloader


def fit(out: Path, arm: str) -> None:
    overrides = [o.format(out=out) for o in COMMON + ARMS[arm]]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*overrides, f"paths.output_dir={out / arm}"])
    pl.seed_everything(0, workers=True)
    module, datamodule = build_training(cfg)
    trainer = build_trainer(cfg)
    if arm in SAME_DATA:
        read_rank_zeros_batches(datamodule)
    if arm == "broken":
        trainer.callbacks.append(StopAfterFirstEpoch())
    counter = CountBroadcasts()
    trainer.callbacks.append(counter)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    params = {k: v.detach().cpu().clone() for k, v in module.model.named_parameters()}
    optimizer = {
        f"{i}.{k}": v.detach().cpu().clone()
        for i, s in trainer.optimizers[0].state_dict()["state"].items()
        for k, v in s.items()
        if torch.is_tensor(v)
    }
    rank = int(os.environ["RANK"])
    engine = getattr(trainer.strategy, "engine", None)  # DTS only
    warmup = engine.warmup if engine is not None else None
    warmup_pending = warmup is not None and warmup.warming
    torch.save(
        {
            "state": state,
            "params": params,
            "optimizer": optimizer,
            "epoch": trainer.current_epoch,
            "warmup_pending": warmup_pending,
            "spreads": engine.spreads if engine is not None else None,
            "broadcasts_between_batches": counter.between,
        },
        out / f"{arm}.rank{rank}.pt",
    )


def main(out_dir: str, arms: list[str]) -> None:
    torch.set_num_threads(1)
    count_broadcasts()
    for arm in arms:
        fit(Path(out_dir), arm)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
