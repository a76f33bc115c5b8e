"""train.py's real loop on a tiny architecture through Hydra's compose API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from hwnas.architecture import Architecture
from hwnas.architecture.timm_model import resolve_architecture
from hwnas.runs.train_run import build_training, run_train
from hwnas.runs.trainer import build_trainer
from hwnas.training.module import TrainModule
from hwnas.training.optim import build_optimizer

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def train_cfg(out: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["debug=train_fast", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return cfg


def test_train_writes_best_and_last_checkpoints_and_a_summary(tmp_path: Path) -> None:
    # "best" by the lowest accuracy: an early epoch, so last.ckpt must still move on
    returned = run_train(train_cfg(tmp_path, "epochs=3", "callbacks.model_checkpoint.mode=min"))
    ckpts = {p.name for p in (tmp_path / "checkpoints").glob("*.ckpt")}
    assert "last.ckpt" in ckpts and len(ckpts) == 2  # last and the best epoch
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 2
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary == returned and summary["epochs"] == 3
    assert 0 <= summary["test_acc"] <= 1 and 0 <= summary["test_ema_acc"] <= 1
    assert summary["test_acc5"] == 1.0  # 4 classes: every label is among the best 5
    assert summary["macs"] > 0 and summary["params"] > 0
    assert Architecture.load(tmp_path / "arch.yaml").name == "tiny"


def _test_acc(cfg: DictConfig, checkpoint: Path) -> tuple[float, float]:
    """Test top-1 and the EMA's of `checkpoint`, tested on its own."""
    module, datamodule = build_training(cfg)
    trainer = build_trainer(cfg)
    trainer.test(module, datamodule=datamodule, ckpt_path=str(checkpoint), verbose=False)
    return float(trainer.callback_metrics["test/acc"]), float(
        trainer.callback_metrics["test/ema/acc"]
    )


def test_test_checkpoint_last_tests_the_final_weights(tmp_path: Path) -> None:
    """`test_checkpoint=last` tests the weights at the end of the schedule, not the best epoch
    (here the worst by val/acc, an early one), and says so in the summary."""
    overrides = ["epochs=3", "callbacks.model_checkpoint.mode=min", "test_checkpoint=last"]
    cfg = train_cfg(tmp_path, *overrides)
    summary = run_train(cfg)
    assert summary["tested"] == "last"
    final = _test_acc(cfg, tmp_path / "checkpoints" / "last.ckpt")
    assert (summary["test_acc"], summary["test_ema_acc"]) == pytest.approx(final, abs=1e-6)
    best = next(p for p in (tmp_path / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt")
    assert _test_acc(cfg, best) != pytest.approx(final, abs=1e-6)  # the choice shows
    default = run_train(train_cfg(tmp_path / "default", "epochs=3"))
    assert default["tested"] == "best"


def test_an_unknown_test_checkpoint_is_refused_before_training(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="test_checkpoint='final'.*best.*last"):
        run_train(train_cfg(tmp_path / "run", "test_checkpoint=final"))
    assert not (tmp_path / "run").exists()


def test_bn_and_biases_get_no_weight_decay(tmp_path: Path) -> None:
    module, _ = build_training(train_cfg(tmp_path))
    optimizer = build_optimizer(module.model, module.optimizer_factory, 4e-5)
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    for name, p in module.model.named_parameters():
        assert decay_of[id(p)] == (0.0 if p.ndim <= 1 else 4e-5), name
    assert all(g["nesterov"] and g["momentum"] == 0.9 for g in optimizer.param_groups)


class _StopAfterFirstEpoch(pl.Callback):
    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        trainer.should_stop = True


def _fit(cfg: DictConfig, stop_early: bool = False) -> dict[str, torch.Tensor]:
    pl.seed_everything(0, workers=True)
    module, datamodule = build_training(cfg)
    trainer = build_trainer(cfg)
    if stop_early:
        trainer.callbacks.append(_StopAfterFirstEpoch())
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_resuming_continues_exactly(tmp_path: Path) -> None:
    """Dropout, mixup/cutmix and the EMA all draw or carry state across the break."""
    common = ["module.dropout=0.2", "logger=csv"]
    unbroken = _fit(train_cfg(tmp_path / "unbroken", *common))
    _fit(train_cfg(tmp_path / "broken", *common), stop_early=True)
    last = tmp_path / "broken" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 0
    resumed = _fit(train_cfg(tmp_path / "resumed", *common, f"ckpt_path={last}"))
    assert unbroken.keys() == resumed.keys()
    for key in unbroken:
        torch.testing.assert_close(resumed[key], unbroken[key], rtol=0, atol=1e-6, msg=key)


def test_class_count_mismatch_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="num_classes=10"):
        run_train(train_cfg(tmp_path, "dataset.num_classes=10"))
    summary = run_train(train_cfg(tmp_path, "dataset.num_classes=10", "num_classes=10", "epochs=1"))
    assert summary["epochs"] == 1


def test_bad_architecture_files_are_named(tmp_path: Path) -> None:
    arch = resolve_architecture("tiny").to_dict()
    arch["layers"][1]["op"] = "k4e3"
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps(arch))
    with pytest.raises(ValueError, match="layer 1"):
        run_train(train_cfg(tmp_path, f"arch={bad}"))
    arch = resolve_architecture("tiny").to_dict()
    arch["layers"][2]["in_channels"] = 20
    bad.write_text(json.dumps(arch))
    with pytest.raises(ValueError, match="does not match the previous block"):
        run_train(train_cfg(tmp_path, f"arch={bad}"))
    with pytest.raises(FileNotFoundError, match="no architecture named 'nope'"):
        run_train(train_cfg(tmp_path, "arch=nope"))
    with pytest.raises(ValueError, match="proxyless_mobile_cifar"):  # lists the published nets
        run_train(train_cfg(tmp_path, "arch=null"))


@pytest.mark.parametrize("name", ["cifar10_fast", "imagenet"])
def test_train_experiments_compose_and_build(tmp_path: Path, name: str) -> None:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"train_experiment={name}"])
    assert cfg.dataset.batch_size >= 256 and cfg.epochs >= 40
    arch = resolve_architecture(cfg.arch)
    module = instantiate(cfg.module, _convert_="all")(
        arch.to_dict(), optimizer=instantiate(cfg.optimizer)
    )
    assert isinstance(module, TrainModule) and module.model.num_classes == arch.num_classes
    assert module.hparams.weight_decay == cfg.module.weight_decay


def test_resuming_with_another_architecture_is_refused(tmp_path: Path) -> None:
    run_train(train_cfg(tmp_path / "a", "epochs=1"))
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    other = resolve_architecture("tiny").to_dict()
    other["layers"][1]["op"], other["layers"][1]["kernel"] = "k5e3", 5
    del other["timm_arch_def"]
    path = tmp_path / "other.yaml"
    path.write_text(json.dumps(other))
    with pytest.raises(ValueError, match="resume with the arch="):
        run_train(train_cfg(tmp_path / "b", f"arch={path}", f"ckpt_path={last}"))
