"""Checkpoints that only ever hold a good state of the run that wrote them, and a resumed run
that runs at the learning rates its config gives.

- `SafeExceptionCheckpoint` writes `interrupted.ckpt` on Ctrl-C or an error only if this run
  took a step and its weights are finite: a resume that fails at start (another search space, a
  bad override) no longer overwrites the checkpoint it was resuming from, and a NaN no longer
  replaces the last good state by a poisoned one.
- `KeptValidation`: the last validation's figures travel in every checkpoint, so a run
  resumed from the end of training (it was stopped while testing) reports them as the unbroken
  run would, not as missing.
- `ConfiguredLearningRates`: Lightning restores the optimiser's learning rate from the
  checkpoint, so `optimizer.lr=0.01` on a resume ran at the old rate while `config.yaml`
  recorded the new one. Here the configured rate takes over (with the schedule's factor at the
  resumed step), and the log says so.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import OnExceptionCheckpoint
from torch.optim.lr_scheduler import LambdaLR

log = logging.getLogger(__name__)


def non_finite_tensors(state: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors in `state` that hold a NaN or an infinity."""
    return [name for name, t in state.items()
            if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all()]  # fmt: skip


class SafeExceptionCheckpoint(OnExceptionCheckpoint):
    """`OnExceptionCheckpoint` that writes only a state this run produced and that is finite."""

    def __init__(self, dirpath: str, filename: str = "interrupted") -> None:
        super().__init__(dirpath, filename)
        self.start_step: int | None = None
        self.written = False  # whether this run wrote the file

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start_step = trainer.global_step  # after a resume: the checkpoint's step

    def on_exception(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.start_step is None or trainer.global_step <= self.start_step:
            log.warning("not writing %s: the run stopped before its first step, so there is "
                        "nothing new to keep (the checkpoint it started from is untouched)",
                        self.ckpt_path)  # fmt: skip
            return
        bad = non_finite_tensors(trainer.lightning_module.state_dict())
        if bad:
            log.warning("not writing %s: %d of the model's tensors are not finite (first: %s); "
                        "the checkpoints written before (last.ckpt) are the last good state",
                        self.ckpt_path, len(bad), bad[0])  # fmt: skip
            return
        try:
            super().on_exception(trainer, *args, **kwargs)
        except OSError as error:  # a full disk: the error that stopped the run is the one to show
            log.warning("could not write %s either: %s", self.ckpt_path, error)
            return
        self.written = True


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
        log.info("resuming %s with lr %g as configured (the checkpoint had %g)",
                 type(optimizer).__name__, lr, old)  # fmt: skip
        group["initial_lr"] = lr
        if isinstance(scheduler, LambdaLR):
            scheduler.base_lrs[i] = lr
            group["lr"] = lr * scheduler.lr_lambdas[i](scheduler.last_epoch)
        else:
            group["lr"] = lr * group["lr"] / old if old else lr


class KeptValidation(pl.Callback):
    """Keeps the last validation's scalars (`val/...`) in the checkpoints; `figures` holds the
    ones restored from the checkpoint a fit resumed from."""

    def __init__(self) -> None:
        self.figures: dict[str, float] = {}

    def state_dict(self) -> dict[str, Any]:
        trainer = getattr(self, "_trainer", None)
        metrics = trainer.callback_metrics if trainer is not None else {}
        kept = {k: float(v) for k, v in metrics.items() if k.startswith("val/") and v.numel() == 1}
        return {"figures": kept or self.figures}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.figures = dict(state_dict.get("figures") or {})

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer
