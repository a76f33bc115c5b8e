"""Run by test_ddp_train.py under torchrun: a tiny train.py run on N processes; rank 0 saves
the initial and final weights."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from pytorch_lightning import seed_everything
from timm.layers import freeze_batch_norm_2d

from hwnas.runs.train_run import build_training

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def main(out_dir: str, devices: int, batch_size: int) -> None:
    """Per-process batches: the single process gets `devices` times as much."""
    torch.set_num_threads(1)
    overrides = [
        "debug=train_fast",
        "module.ema=null",
        "module.mixup=null",
        "module.dropout=0",
        "module.warmup_epochs=0",
        f"dataset.batch_size={batch_size}",
        "dataset.train_size=512",
        "epochs=1",
        "trainer.limit_train_batches=6",
        "trainer.limit_val_batches=1",
        f"trainer.devices={devices}",
        "trainer.accelerator=cpu",
        "+trainer.enable_checkpointing=false",
        "+trainer.num_nodes=1",
        "+trainer.enable_progress_bar=false",
        f"paths.output_dir={out_dir}",
        "optimizer.lr=0.2",
        *sys.argv[4:],
    ]
    if devices > 1:
        overrides.insert(0, "trainer=ddp")
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    seed_everything(0, workers=True)
    module, datamodule = build_training(cfg)
    # BatchNorm with frozen statistics: each image's output no longer depends on the others in
    # its batch, so N half-batches must give exactly the gradient of the whole batch.
    module.model = freeze_batch_norm_2d(module.model)
    datamodule.shuffle_train = False  # rank r takes samples r, r+N, ...: one batch = N half-batches
    init = {k: v.detach().clone() for k, v in module.model.state_dict().items()}
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    trainer.fit(module, datamodule=datamodule)
    if int(os.environ.get("RANK", 0)) == 0:
        final = {k: v.detach().cpu() for k, v in module.model.state_dict().items()}
        torch.save({"init": init, "final": final}, Path(out_dir) / "weights.pt")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
