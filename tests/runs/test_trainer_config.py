"""The trainer a run asks for is the trainer it gets: debug configs keep a `trainer=` choice,
and Lightning's common settings are set without a `+`."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from hwnas.runs.train_run import run_train

CONF = Path(__file__).resolve().parents[2] / "conf"
TRAINERS = sorted(p.stem for p in (CONF / "trainer").glob("*.yaml"))
DEBUGS = {"search": "debug=fast", "train": "debug=train_fast"}
# what a trainer choice decides: where and how the run computes
CHOSEN = ("accelerator", "devices", "strategy", "precision")
# Lightning's own arguments that conf/trainer/default.yaml declares with Lightning's defaults
DECLARED = (
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "val_check_interval",
    "accumulate_grad_batches",
)


def composed(name: str, *overrides: str, out: Path | None = None) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=name, overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.output_dir = str(out or "unused")
    return cfg


def _chosen(cfg: DictConfig) -> dict:
    return {key: OmegaConf.select(cfg, f"trainer.{key}") for key in CHOSEN}


@pytest.mark.parametrize("trainer", TRAINERS)
@pytest.mark.parametrize("name", sorted(DEBUGS))
def test_a_debug_config_keeps_the_trainer_of_the_command_line(name: str, trainer: str) -> None:
    alone = composed(name, f"trainer={trainer}")
    with_debug = composed(name, DEBUGS[name], f"trainer={trainer}")
    assert _chosen(with_debug) == _chosen(alone)


@pytest.mark.parametrize("name", sorted(DEBUGS))
def test_trainer_gpu_with_a_debug_config_runs_on_the_gpu(name: str) -> None:
    cfg = composed(name, DEBUGS[name], "trainer=gpu")
    assert (cfg.trainer.accelerator, cfg.trainer.precision) == ("gpu", "bf16-mixed")
    assert cfg.trainer.limit_train_batches is not None  # still the debug run's few batches


@pytest.mark.parametrize("name", sorted(DEBUGS))
def test_a_debug_config_alone_runs_on_the_cpu(name: str) -> None:
    cfg = composed(name, DEBUGS[name])
    assert (cfg.trainer.accelerator, cfg.trainer.precision) == ("cpu", "32-true")


def test_declared_trainer_settings_are_lightnings_defaults() -> None:
    """Declaring them changes nothing until a run sets one."""
    defaults = inspect.signature(pl.Trainer.__init__).parameters
    cfg = composed("train")
    assert {key: cfg.trainer[key] for key in DECLARED} == {
        key: defaults[key].default for key in DECLARED
    }


@pytest.mark.parametrize("name", sorted(DEBUGS))
def test_trainer_settings_are_set_without_a_plus(name: str, tmp_path: Path) -> None:
    cfg = composed(
        name,
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=0.5",
        "trainer.val_check_interval=1.0",
        "trainer.accelerator=cpu",
        out=tmp_path,
    )
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    assert (trainer.limit_train_batches, trainer.limit_val_batches) == (2, 0.5)


def test_limit_train_batches_shortens_a_training_run(tmp_path: Path) -> None:
    cfg = composed(
        "train",
        "dataset=synthetic",
        "dataset.input_size=16",
        "dataset.num_classes=4",
        "dataset.train_size=256",
        "dataset.test_size=64",
        "dataset.batch_size=16",
        "arch=tiny",
        "epochs=1",
        "logger=csv",
        "trainer.accelerator=cpu",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        out=tmp_path,
    )
    run_train(cfg)
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["global_step"] == 3  # not the more than a dozen batches of a whole epoch
