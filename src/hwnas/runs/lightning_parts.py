"""What every entry point does the same way: seeding and the run directory, the trainer from
its config groups, the logged scalars, and the end of a wandb run."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig


def start_run(cfg: DictConfig) -> Path:
    """Seed everything (0 is a seed; null leaves the generators alone) and create the run
    directory; returns it."""
    if cfg.get("seed") is not None:
        pl.seed_everything(int(cfg.seed), workers=True)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def build_trainer(cfg: DictConfig) -> pl.Trainer:
    """`cfg.trainer` with the configured logger (or none) and callbacks."""
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    return instantiate(cfg.trainer, logger=logger, callbacks=callbacks)


def scalar_metrics(trainer: pl.Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def finish_wandb(trainer: pl.Trainer) -> None:
    """Close the wandb run of this job (each multirun job must end its own)."""
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in trainer.loggers):
        import wandb

        wandb.finish()
