"""Run by test_ddp.py under torchrun: a tiny search on N processes; each rank saves its alphas."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from pytorch_lightning import seed_everything

from hwnas.runs.search_run import build_search

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def main(out_dir: str, devices: int, batch_size: int, arch_update: str = "gradient") -> None:
    """Per-process batches: the single process gets `devices` times as much."""
    torch.set_num_threads(1)
    overrides = [
        "debug=fast",
        "hardware=flops",
        "hardware.cost_model.unit=kMACs",
        "cost_loss=mul_log",
        "dataset=synthetic",
        "dataset.input_size=16",
        "dataset.train_size=512",
        f"dataset.batch_size={batch_size}",
        f"dataset.arch_batch_size={32 // devices}",
        "epochs=2",
        "arch_update.warmup_epochs=0",
        "arch_update.every=1",
        "arch_update.optimizer._target_=torch.optim.SGD",
        "arch_update.optimizer.lr=20",
        "~arch_update.optimizer.betas",
        "~arch_update.optimizer.eps",
        "trainer.limit_train_batches=4",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        f"trainer.devices={devices}",
        "trainer.accelerator=cpu",
        "+trainer.enable_checkpointing=false",
        "+trainer.num_nodes=1",
        "+trainer.enable_progress_bar=false",
        f"paths.output_dir={out_dir}",
    ]
    if devices > 1:
        overrides.insert(0, "trainer=ddp")
    if arch_update == "reinforce":  # 4 updates an epoch of 4 samples each
        overrides.remove("arch_update.every=1")
        overrides += [
            "arch_update=reinforce",
            "arch_update.samples=4",
            "arch_update.updates_per_epoch=4",
        ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=overrides)
    seed_everything(0, workers=True)
    module, datamodule = build_search(cfg)
    datamodule.shuffle_train = False  # rank r takes samples r, r+N, ...: one batch = N half-batches
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    trainer.fit(module, datamodule=datamodule)
    rank = int(os.environ.get("RANK", 0))
    alphas = [a.detach().cpu() for a in module.supernet.arch_parameters()]
    torch.save(
        {"alphas": alphas, "paths": module.supernet.argmax_paths()},
        Path(out_dir) / f"rank{rank}.pt",
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:])
