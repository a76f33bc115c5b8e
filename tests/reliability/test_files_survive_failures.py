"""Issue 10, cases 2, 3 and 12: result files and checkpoints are written whole or not at all,
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

from hwnas.files import write_atomic, write_json
from hwnas.runs.checkpoint_io import AtomicCheckpointIO, CheckpointWriteError
from hwnas.runs.lightning_parts import build_trainer, fit
from hwnas.runs.summary import write_summary
from hwnas.runs.train_run import build_training, run_train

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


def test_a_checkpoint_that_cannot_be_written_keeps_the_last_good_one(
    tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 1}, path)
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: _disk_full(f))
    with pytest.raises(CheckpointWriteError, match="last.ckpt.*No space left.*previous file"):
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
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
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
    with pytest.raises(OSError, match="No space left on device"):
        fit(trainer, module, datamodule=datamodule)
    last = torch.load(small_disk / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 0  # the first epoch's, whole
