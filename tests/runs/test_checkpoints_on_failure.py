"""Result files and checkpoints are written whole or not at all,
a checkpoint that cannot be written stops the run, and summaries are strict JSON."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from hwnas.runs.checkpoint_io import AtomicCheckpointIO, CheckpointWriteError
from hwnas.runs.summary import write_summary
from hwnas.runs.train_run import build_training, run_train
from hwnas.runs.trainer import build_trainer, fit
from hwnas.util.files import write_atomic, write_json

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _strict(text: str):
    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _disk_full(f) -> None:
    f.write(b"half a file")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    write_json(target, {"test_acc": 0.9})
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, _disk_full)
    assert _strict(target.read_text()) == {"test_acc": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left behind


def test_written_files_get_the_mode_a_plain_write_gives(tmp_path: Path) -> None:
    """Colleagues on a shared machine can read the results: the umask decides, as for open()."""
    old = os.umask(0o022)
    try:
        new = write_json(tmp_path / "summary.json", {"test_acc": 0.9})
        assert new.stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        assert write_json(tmp_path / "private.json", {}).stat().st_mode & 0o777 == 0o600
        new.chmod(0o640)  # a file that exists keeps its own mode, as it would with open()
        assert write_json(new, {"test_acc": 1.0}).stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_checkpoints_get_the_mode_a_plain_write_gives(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        AtomicCheckpointIO().save_checkpoint({"epoch": 1}, tmp_path / "last.ckpt")
        assert (tmp_path / "last.ckpt").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_a_checkpoint_that_cannot_be_written_keeps_the_last_good_one(
    tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 1}, path)
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: _disk_full(f))
    with pytest.raises(
        CheckpointWriteError, match="last.ckpt.*No space left.*previous last.ckpt there is intact"
    ):
        io.save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=False) == {"epoch": 1}


def test_summaries_are_strict_json(tmp_path: Path) -> None:
    path = write_summary(
        tmp_path / "summary.json", {"val_acc": float("nan"), "x": [float("inf"), 1.0]}
    )
    assert _strict(path.read_text()) == {"val_acc": None, "x": [None, 1.0]}


def _read_only(folder: Path) -> bool:
    """Make `folder` unwritable, also for root (an immutable folder); False if impossible."""
    folder.mkdir(parents=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    return done.returncode == 0


def _writable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


def test_an_unwritable_checkpoint_folder_stops_the_run(tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    if not _read_only(checkpoints):
        pytest.skip("cannot make a folder unwritable here (chattr +i refused)")
    try:
        with initialize_config_dir(config_dir=CONF, version_base="1.3"):
            cfg = compose(config_name="train", overrides=["debug=train_fast", "epochs=1"])
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path)
        with pytest.raises(CheckpointWriteError, match="could not write the checkpoint"):
            run_train(cfg)
    finally:
        _writable(checkpoints)
    assert not (tmp_path / "train_summary.json").exists()  # no results claimed


class _DiskFillsInSecondEpoch(pl.Callback):
    """At the start of the second epoch, fill the run's filesystem to half a checkpoint from
    full."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.current_epoch == 1:
            keep = (self.folder / "checkpoints" / "last.ckpt").stat().st_size // 2
            free = shutil.disk_usage(self.folder).free
            (self.folder / "filler").write_bytes(b"\0" * max(0, free - keep))


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 16 MB filesystem of its own (tmpfs), as a full disk needs; skipped where mounting is
    not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_full_disk_leaves_the_last_good_checkpoint(small_disk: Path) -> None:
    """Lightning wrote a temporary file in /tmp and copied it over the checkpoint: on a full
    disk the copy left last.ckpt truncated."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=["debug=train_fast", "epochs=2", "logger=csv", "~callbacks.model_checkpoint"],
        )  # last.ckpt first
    with open_dict(cfg):
        cfg.paths.output_dir = str(small_disk)
    module, datamodule = build_training(cfg)
    trainer = build_trainer(cfg)
    trainer.callbacks.append(_DiskFillsInSecondEpoch(small_disk))
    with pytest.raises(OSError, match="No space left on device") as failed:
        fit(trainer, module, datamodule=datamodule)
    last = torch.load(small_disk / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 0  # the first epoch's, whole
    # the message names what exists: not the interrupted.ckpt the full disk kept from being written
    assert not (small_disk / "checkpoints" / "interrupted.ckpt").exists()
    assert "interrupted.ckpt" not in str(failed.value)
    assert f"ckpt_path={small_disk / 'checkpoints' / 'last.ckpt'}" in str(failed.value)


class _LearningRateExplodesInSecondEpoch(pl.Callback):
    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.current_epoch == 1:
            for group in trainer.optimizers[0].param_groups:
                group["lr"] = 1e30


def _train_cfg(out: Path, *overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["debug=train_fast", "logger=csv", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return cfg


def test_a_diverged_run_keeps_its_last_finite_checkpoint(
    tmp_path: Path,
) -> None:
    cfg = _train_cfg(tmp_path, "epochs=3", "module.mixup=null")
    module, datamodule = build_training(cfg)
    trainer = build_trainer(cfg)
    trainer.callbacks.append(_LearningRateExplodesInSecondEpoch())
    last = tmp_path / "checkpoints" / "last.ckpt"
    with pytest.raises(
        FloatingPointError,
        match=f"diverged.*keep finite states.*ckpt_path={last} optimizer.lr=<lower>",
    ):
        fit(trainer, module, datamodule=datamodule)
    kept = torch.load(last, weights_only=False)
    assert kept["epoch"] == 0
    assert all(
        torch.isfinite(t).all() for t in kept["state_dict"].values() if t.is_floating_point()
    )
    assert not (tmp_path / "checkpoints" / "interrupted.ckpt").exists()  # it would not be finite


def test_a_resumed_run_runs_at_the_configured_learning_rate(tmp_path: Path) -> None:
    """Case 5: the checkpoint's rate ran while config.yaml recorded the new one."""
    cfg = _train_cfg(tmp_path / "first", "epochs=1")
    module, datamodule = build_training(cfg)
    fit(build_trainer(cfg), module, datamodule=datamodule)
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    resumed = _train_cfg(tmp_path / "resumed", "epochs=2", f"ckpt_path={last}", "optimizer.lr=0.01")
    module, datamodule = build_training(resumed)
    trainer = build_trainer(resumed)
    seen: list[tuple[float, float]] = []
    trainer.callbacks.append(_RecordLearningRate(seen))
    fit(trainer, module, datamodule=datamodule, ckpt_path=str(last))
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    base, lr = seen[0]
    assert base == pytest.approx(0.01)  # not the checkpoint's 0.05
    assert lr == pytest.approx(0.01 * scheduler.lr_lambdas[0](scheduler.last_epoch - len(seen)))


class _RecordLearningRate(pl.Callback):
    def __init__(self, seen: list[tuple[float, float]]) -> None:
        self.seen = seen

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        group = trainer.optimizers[0].param_groups[0]
        self.seen.append((group["initial_lr"], group["lr"]))


def test_a_resume_that_fails_at_start_keeps_the_checkpoint_it_resumed_from(tmp_path: Path) -> None:
    """Case 1: the failed run's own interrupted.ckpt must not replace the one it came from."""
    run = tmp_path / "run"
    cfg = _train_cfg(run, "epochs=1")
    module, datamodule = build_training(cfg)
    trainer = build_trainer(cfg)
    trainer.callbacks.append(_RaiseAtBatch(2))
    with pytest.raises(RuntimeError, match="stop here"):
        fit(trainer, module, datamodule=datamodule)
    interrupted = run / "checkpoints" / "interrupted.ckpt"
    before = interrupted.read_bytes()
    wrong = _train_cfg(
        run, "epochs=1", "arch=proxyless_mobile_cifar", "num_classes=4", "dataset.input_size=32"
    )
    with pytest.raises(ValueError, match="holds architecture"):
        module, datamodule = build_training(wrong)
        fit(build_trainer(wrong), module, datamodule=datamodule, ckpt_path=str(interrupted))
    assert interrupted.read_bytes() == before


class _RaiseAtBatch(pl.Callback):
    def __init__(self, batch: int) -> None:
        self.batch = batch

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == self.batch:
            raise RuntimeError("stop here")
