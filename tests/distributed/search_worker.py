"""Short `search.py` fits (tiny space, synthetic data) for test_search.py, one per arm, run under
torchrun by fits_worker.py in one pair of processes; every rank saves its final state and the
paths it sampled.

Arms: Lightning's DDP; DTS with delay 0; DTS with delay 2 over two epochs, unbroken, stopped
after the first epoch, and resumed from that stop's last.ckpt; the sparse update (period 3,
delay 1)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir

from hwnas.runs.search_run import build_search
from hwnas.runs.trainer import build_trainer

CONF = str(Path(__file__).resolve().parents[2] / "conf")
COMMON = [
    "debug=fast",
    "trainer=ddp",
    "trainer.devices=2",
    "trainer.accelerator=cpu",
    "+trainer.num_nodes=1",
    "+trainer.enable_progress_bar=false",
    "logger=csv",
    "dataset=synthetic",
    "dataset.input_size=16",
    "dataset.train_size=512",
    "dataset.batch_size=16",
    "dataset.arch_batch_size=16",
    "arch_update.warmup_epochs=0",
    "arch_update.every=1",
    "arch_update.optimizer.lr=0.05",
    "trainer.limit_train_batches=5",
    "trainer.limit_val_batches=1",
    "optimizer.lr=0.2",
]
DTS = ["distributed=dts", "dts.timeout_s=60"]
ARMS = {
    "ddp": ["epochs=1"],
    "dts_t0": [*DTS, "dts.delay=0", "epochs=1"],
    "unbroken": [*DTS, "dts.delay=2", "epochs=2"],
    "broken": [*DTS, "dts.delay=2", "epochs=2"],
    "resumed": [*DTS, "dts.delay=2", "epochs=2", "ckpt_path={out}/broken/checkpoints/last.ckpt"],
    "sparse": [*DTS, "dts.period=3", "dts.delay=1", "epochs=2"],
}


class StopAfterFirstEpoch(pl.Callback):
    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        trainer.should_stop = True


def fit(out: Path, arm: str) -> None:
    overrides = [o.format(out=out) for o in COMMON + ARMS[arm]]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=[*overrides, f"paths.output_dir={out / arm}"])
    pl.seed_everything(0, workers=True)
    module, datamodule = build_search(cfg)
    trainer = build_trainer(cfg)
    if arm == "broken":
        trainer.callbacks.append(StopAfterFirstEpoch())
    paths: list[list[int]] = []
    sample = module.supernet.sample_paths

    def recorded(generator: torch.Generator) -> list[int]:
        paths.append(list(sample(generator)))
        return paths[-1]

    module.supernet.sample_paths = recorded
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    optimizer = {
        f"{o}.{i}.{k}": v.detach().cpu().clone()
        for o, opt in enumerate(trainer.optimizers)
        for i, s in opt.state_dict()["state"].items()
        for k, v in s.items()
        if torch.is_tensor(v)
    }
    engine = getattr(trainer.strategy, "engine", None)  # DTS only
    rank = int(os.environ["RANK"])
    torch.save(
        {
            "state": state,
            "optimizer": optimizer,
            "paths": paths,
            "alphas": [a.detach().cpu().clone() for a in module.supernet.arch_parameters()],
            "epoch": trainer.current_epoch,
            "spreads": engine.spreads if engine is not None else None,
            "shared_delay": engine.shared.delay if engine is not None else None,
        },
        out / f"{arm}.rank{rank}.pt",
    )


def main(out_dir: str, arms: list[str]) -> None:
    torch.set_num_threads(1)
    for arm in arms:
        fit(Path(out_dir), arm)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
