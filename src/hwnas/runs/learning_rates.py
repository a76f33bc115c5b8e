"""A resumed run runs at the learning rates its config gives.

Lightning restores each optimiser's learning rate from the checkpoint; `ConfiguredLearningRates`
sets the configured rate instead (with the schedule's factor at the resumed step), and the log
says so.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pytorch_lightning as pl
import torch
from torch.optim.lr_scheduler import LambdaLR

log = logging.getLogger(__name__)


class ConfiguredLearningRates(pl.Callback):
    """On a resumed fit, set every optimiser's base learning rate to the configured one.

    The module says what its config gives through `configured_lrs()` (one entry per optimiser,
    None to keep the checkpoint's).
    """

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.ckpt_path is None or not hasattr(pl_module, "configured_lrs"):
            return
        schedulers = {id(c.scheduler.optimizer): c.scheduler for c in trainer.lr_scheduler_configs}
        for optimizer, lr in zip(trainer.optimizers, pl_module.configured_lrs(), strict=True):
            if lr is not None:
                _set_base_lr(optimizer, schedulers.get(id(optimizer)), float(lr))


def _set_base_lr(optimizer: torch.optim.Optimizer, scheduler: Any, lr: float) -> None:
    for i, group in enumerate(optimizer.param_groups):
        old = group.get("initial_lr", group["lr"])
        if math.isclose(old, lr, rel_tol=1e-12):
            continue
        log.info(
            "resuming %s with lr %g as configured (the checkpoint had %g)",
            type(optimizer).__name__,
            lr,
            old,
        )
        group["initial_lr"] = lr
        if isinstance(scheduler, LambdaLR):
            scheduler.base_lrs[i] = lr
            group["lr"] = lr * scheduler.lr_lambdas[i](scheduler.last_epoch)
        else:
            group["lr"] = lr * group["lr"] / old if old else lr
