"""A run stopped by SIGTERM fails and says where its checkpoint
is; searches that would export an unsearched net and impossible epoch counts are refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from hwnas.runs.search_run import run_search
from hwnas.runs.train_run import build_training, run_train
from hwnas.runs.trainer import build_trainer, fit, unread_additions

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _cfg(name: str, out: Path, *overrides: str):
    debug = "debug=fast" if name == "search" else "debug=train_fast"
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name=name, overrides=[debug, "logger=csv", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return cfg


class _SigtermAtSecondBatch(pl.Callback):
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # what SLURM sends before it kills a job


def test_sigterm_fails_the_run_and_names_the_checkpoint(tmp_path: Path) -> None:
    cfg = _cfg("train", tmp_path)
    module, datamodule = build_training(cfg)
    trainer = build_trainer(cfg)
    trainer.callbacks.append(_SigtermAtSecondBatch())
    with pytest.raises(SystemExit) as stopped:
        fit(trainer, module, datamodule=datamodule)
    message = str(stopped.value.code)
    assert stopped.value.code not in (0, None)  # a string: Python prints it and exits 1
    checkpoint = tmp_path / "checkpoints" / "interrupted.ckpt"
    assert f"ckpt_path={checkpoint}" in message and "SIGTERM" in message
    assert checkpoint.is_file()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["epochs=2", "arch_update.warmup_epochs=2"], "no architecture step would run"),
        (["epochs=1", "arch_update.warmup_epochs=3"], "no architecture step would run"),
        (["epochs=0"], "epochs must be a whole number >= 1"),
    ],
)
def test_a_search_that_would_not_search_is_refused(tmp_path: Path, overrides, match) -> None:
    with pytest.raises(ValueError, match=match):
        run_search(_cfg("search", tmp_path, *overrides))
    assert not (tmp_path / "arch.yaml").exists()


@pytest.mark.parametrize("epochs", ["-1", "0"])
def test_training_for_no_epochs_is_refused(tmp_path: Path, epochs: str) -> None:
    with pytest.raises(ValueError, match=f"epochs must be a whole number >= 1, got {epochs}"):
        run_train(_cfg("train", tmp_path, f"epochs={epochs}"))


def test_a_run_folder_with_another_runs_checkpoints_is_refused(tmp_path: Path) -> None:
    """Case 12: a second run in the same folder mixed its checkpoints with the first's."""
    run_train(_cfg("train", tmp_path, "epochs=1"))
    with pytest.raises(FileExistsError, match="already holds checkpoints of an earlier run"):
        run_train(_cfg("train", tmp_path, "epochs=1"))
    last = tmp_path / "checkpoints" / "last.ckpt"
    run_train(_cfg("train", tmp_path, "epochs=2", f"ckpt_path={last}"))  # resuming it is fine


def _search_cfg(out: Path, *overrides: str):
    return _cfg(
        "search",
        out,
        "epochs=2",
        "arch_update.warmup_epochs=0",
        "dataset=synthetic",
        "dataset.input_size=16",
        "dataset.train_size=256",
        "dataset.batch_size=16",
        "search_space.dropout=0.3",
        *overrides,
    )


def test_a_resumed_search_equals_the_unbroken_one(tmp_path: Path, fit_search) -> None:
    """Case 8: the held-out stream restarted and the random generators were not restored, so a
    resumed search derived another architecture; its time counted only the resumed part."""
    unbroken = fit_search(_search_cfg(tmp_path / "unbroken"))
    broken = fit_search(_search_cfg(tmp_path / "broken"), stop_early=True)
    last = tmp_path / "broken" / "checkpoints" / "last.ckpt"
    resumed = fit_search(_search_cfg(tmp_path / "resumed", f"ckpt_path={last}"))
    assert unbroken.arch_batches_used == resumed.arch_batches_used > broken.arch_batches_used > 0
    for key, value in unbroken.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=1e-6, msg=key)
    assert resumed.derived_paths() == unbroken.derived_paths()
    assert resumed.search_seconds() > broken.search_seconds() > 0  # the first part counts too
    # the probabilities drawn in arch_probs.png: the start and both epochs, as if unbroken
    assert [r["epoch"] for r in resumed.prob_history] == [0, 1, 2]
    for got, want in zip(resumed.prob_history, unbroken.prob_history, strict=True):
        flat = [p for layer in got["probs"] for p in layer]
        assert flat == pytest.approx([p for layer in want["probs"] for p in layer], abs=1e-5)


def test_a_plus_typo_on_the_command_line_is_refused(tmp_path: Path) -> None:
    """Case 12: `+epoch=3`, as Hydra suggests for the typo `epoch=3`, ran and was ignored."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [
            sys.executable,
            str(root / "train.py"),
            "debug=train_fast",
            "logger=csv",
            "+epoch=3",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "+epoch (did you mean epochs=...?): adds a setting that nothing reads" in done.stderr
    assert unread_additions(["+trainer.num_nodes=2", "++seed=1", "epochs=3", "+epoch=3"]) == [
        "epoch"
    ]
