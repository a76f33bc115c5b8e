"""`run_train(cfg)`: everything `python train.py` does, callable from tests."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from hwnas.architecture.arch_file import Architecture
from hwnas.architecture.macs import count_macs
from hwnas.architecture.timm_model import ARCH_DIR, resolve_architecture
from hwnas.distributed import DTSStrategy
from hwnas.runs.console import say
from hwnas.runs.recipe import check_recipe, train_recipe
from hwnas.runs.trainer import (
    build_trainer,
    finish_wandb,
    fit,
    fitted_metrics,
    held_run_folder,
    stops_loudly,
    test,
)
from hwnas.training.init_from_search import load_search_weights
from hwnas.training.module import TrainModule
from hwnas.util.files import write_json, write_text

log = logging.getLogger(__name__)


def training_architecture(cfg: DictConfig, datamodule: Any) -> Architecture:
    """The architecture to train: `arch` (a published name or a path), else the derived one of
    `init_from_search`, at the data set's input size, checked against its channels and classes.
    """
    source = cfg.get("arch")
    if source is None and cfg.get("init_from_search"):
        source = Path(cfg.init_from_search) / "arch.yaml"
    if source is None:
        known = ", ".join(sorted(p.stem for p in ARCH_DIR.glob("*.yaml")))
        raise ValueError(f"no architecture: pass arch=<a path to an arch.yaml, or one of {known}>")
    arch = resolve_architecture(source)
    classes = cfg.get("num_classes") or arch.num_classes
    if datamodule.num_classes != classes:
        raise ValueError(
            f"architecture {arch.name!r} has {classes} classes but the data set has "
            f"{datamodule.num_classes}: pass num_classes={datamodule.num_classes} to train it "
            "with a new classifier, or choose a data set with matching classes"
        )
    if datamodule.in_channels != arch.in_channels:
        raise ValueError(
            f"architecture {arch.name!r} takes {arch.in_channels}-channel images but the data "
            f"set has {datamodule.in_channels} channels"
        )
    if datamodule.input_size != arch.input_size:
        log.info(
            "training %s at the data set's %dx%d (its file says %d)",
            arch.name,
            datamodule.input_size,
            datamodule.input_size,
            arch.input_size,
        )
    return dataclasses.replace(arch, num_classes=classes, input_size=datamodule.input_size)


def build_training(cfg: DictConfig) -> tuple[TrainModule, pl.LightningDataModule]:
    """Data set and TrainModule from a composed config (with init_from_search applied)."""
    datamodule = instantiate(cfg.dataset)
    arch = training_architecture(cfg, datamodule)
    # `module=train`: the TrainModule partial, its settings as plain types (kept in checkpoints)
    module = instantiate(cfg.module, _convert_="all")(
        arch.to_dict(), optimizer=instantiate(cfg.optimizer)
    )
    if cfg.get("init_from_search"):
        load_search_weights(module.model, cfg.init_from_search, arch)
        if module.ema is not None:  # the average starts from the loaded weights
            module.ema.module.load_state_dict(module.model.state_dict())
    return module, datamodule


TEST_CHECKPOINTS = ("best", "last")


def checkpoint_to_test(cfg: DictConfig) -> str:
    """`test_checkpoint`, checked before any training: `best` (the epoch with the highest
    val/acc) or `last` (the weights at the end of the schedule)."""
    choice = cfg.get("test_checkpoint", "best")
    if choice not in TEST_CHECKPOINTS:
        raise ValueError(
            f"unknown test_checkpoint={choice!r}: choose best (the checkpoint with the highest "
            "val/acc) or last (the weights at the end of training)"
        )
    return choice


def run_train(cfg: DictConfig) -> dict[str, Any]:
    """Train, test the best checkpoint (or the last weights: `test_checkpoint=last`), write
    `train_summary.json`; returns the summary."""
    tested = checkpoint_to_test(cfg)
    check_recipe(cfg)
    with held_run_folder(cfg, "train_summary.json") as out:
        return _train(cfg, out, tested)


def _train(cfg: DictConfig, out: Path, tested: str) -> dict[str, Any]:
    module, datamodule = build_training(cfg)
    recipe = train_recipe(cfg, module, datamodule)  # logged
    trainer = build_trainer(cfg)
    if trainer.is_global_zero:
        write_text(out / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        module.arch.save(out / "arch.yaml")
    start = time.perf_counter()
    try:
        fit(trainer, module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        seconds = time.perf_counter() - start
        metrics = fitted_metrics(trainer)
        best = _best_checkpoint(trainer)
        # ckpt_path None with the module: the weights in memory, the end of the schedule (under
        # distributed=dts one model: training ends with a sync point)
        path = best if tested == "best" else None
        metrics.update(test(trainer, module, datamodule=datamodule, ckpt_path=path))
        summary = _summary(module, metrics, trainer, seconds, best)
        summary["tested"] = "best" if path else "last"  # no checkpoint callback: the last weights
        summary["recipe"] = recipe
        if trainer.is_global_zero:
            with stops_loudly(trainer, "writing the results", out / "train_summary.json"):
                write_json(out / "train_summary.json", summary)
            say(_format(summary))
    finally:
        finish_wandb(trainer)
    return summary


def _best_checkpoint(trainer: pl.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    path = getattr(callback, "best_model_path", "") if callback else ""
    return path or None


def _summary(
    module: TrainModule,
    metrics: dict[str, float],
    trainer: pl.Trainer,
    seconds: float,
    best: str | None,
) -> dict[str, Any]:
    """The values `train_summary.json` keeps of a training run."""
    arch = module.arch
    shape = (1, arch.in_channels, arch.input_size, arch.input_size)
    summary = {
        "architecture": arch.name,
        "epochs": trainer.current_epoch,
        "train_time_s": round(seconds, 1),
        "best_checkpoint": best,
        "params": sum(p.numel() for p in module.model.parameters()),
        "macs": count_macs(module.model, shape),
    }
    for key in (
        "val/acc",
        "val/ema/acc",
        "test/acc",
        "test/acc5",
        "test/ema/acc",
        "test/ema/acc5",
        "train/loss",
    ):
        if key in metrics:
            summary[key.replace("/", "_")] = metrics[key]
    if isinstance(trainer.strategy, DTSStrategy):
        summary["distributed"] = trainer.strategy.summary()
    return summary


def _format(summary: dict[str, Any]) -> str:
    lines = [
        f"Trained {summary['architecture']} for {summary['epochs']} epochs in "
        f"{summary['train_time_s']:.0f} s ({summary['params']:,} parameters, "
        f"{summary['macs'] / 1e6:.1f} M multiply-adds)"
    ]
    for key in ("test_acc", "test_acc5", "test_ema_acc", "test_ema_acc5"):
        if key in summary:
            lines.append(f"{key.replace('_', ' ')}: {summary[key]:.4f}")
    lines.append(f"best checkpoint: {summary['best_checkpoint']}")
    lines.append(
        "tested: "
        + (
            "the best checkpoint"
            if summary.get("tested") == "best"
            else "the weights at the end of training"
        )
    )
    return "\n".join(lines)
