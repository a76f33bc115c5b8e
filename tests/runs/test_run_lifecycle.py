"""A run holds its folder while it runs, a stop in any phase exits non-zero naming the files
that exist, and a run resumed at its end reports what the unbroken one reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from hwnas.runs import search_run, train_run
from hwnas.runs.run_folder import FolderInUseError, hold_run_folder, release_run_folder
from hwnas.runs.trainer import build_trainer

CONF = str(Path(__file__).resolve().parents[2] / "conf")
# another process's attempt to take a run folder's lock, without importing hwnas (fast)
TRY_LOCK = (
    "import fcntl, os, sys; fd = os.open(os.path.join(sys.argv[1], '.run.lock'), "
    "os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)"
)


def _cfg(name: str, out: Path, *overrides: str):
    debug = "debug=fast" if name == "search" else "debug=train_fast"
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name=name, overrides=[debug, "logger=csv", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return cfg


def _try_lock(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", TRY_LOCK, str(folder)], capture_output=True, text=True, timeout=120
    )


class _Probe(pl.Callback):
    """Tries, from another process, to take the run's folder while the run trains."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.result = folder, None

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.result is None:
            self.result = _try_lock(self.folder)


def _with_callback(monkeypatch, module, callback: pl.Callback) -> None:
    def build(cfg):
        trainer = build_trainer(cfg)
        trainer.callbacks.append(callback)
        return trainer

    monkeypatch.setattr(module, "build_trainer", build)


def test_a_second_run_in_a_folder_in_use_is_refused(tmp_path: Path, monkeypatch) -> None:
    """Both runs passed the start-up check, and the folder ended with one run's results and
    both runs' checkpoints."""
    probe = _Probe(tmp_path)
    _with_callback(monkeypatch, train_run, probe)
    train_run.run_train(_cfg("train", tmp_path, "epochs=1"))
    assert probe.result is not None and "BlockingIOError" in probe.result.stderr  # held
    assert _try_lock(tmp_path).returncode == 0  # released once the run ended


def test_a_folder_held_by_another_process_is_refused_with_its_holder(tmp_path: Path) -> None:
    hold_run_folder(tmp_path)
    try:
        assert "BlockingIOError" in _try_lock(tmp_path).stderr
        hold_run_folder(tmp_path)  # the same process may take it again (a resume in a test)
    finally:
        release_run_folder(tmp_path)
    hold = TRY_LOCK + "; os.ftruncate(fd, 0); os.write(fd, b'pid 123 on elsewhere')"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            hold + "; print('held', flush=True); sys.stdin.read()",
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderInUseError) as refused:
            hold_run_folder(tmp_path)
    finally:
        holder.communicate("", timeout=60)
    message = str(refused.value)
    assert "is in use by another run (pid 123 on elsewhere)" in message
    assert "hydra.run.dir" in message and "hydra.sweep.dir" in message
    hold_run_folder(tmp_path)  # free again once the holder ended
    release_run_folder(tmp_path)


class _SigtermAtTest(pl.Callback):
    def on_test_batch_start(self, *args) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # what SLURM sends before it kills a job


class _CtrlCAtSecondBatch(pl.Callback):
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if trainer.current_epoch == 1 and batch_idx == 1:
            raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("entry", "results"), [("search", "summary.json"), ("train", "train_summary.json")]
)
def test_sigterm_while_testing_fails_and_the_resume_reports_the_unbroken_run(
    tmp_path: Path, monkeypatch, entry: str, results: str
) -> None:
    """SIGTERM during the final test exited 0 with no results; resuming a finished run then
    reported no validation accuracy."""
    module = search_run if entry == "search" else train_run
    run = search_run.run_search if entry == "search" else train_run.run_train
    unbroken = run(_cfg(entry, tmp_path / "unbroken"))
    folder = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _with_callback(patch, module, _SigtermAtTest())
        with pytest.raises(SystemExit) as stopped:
            run(_cfg(entry, folder))
    message = str(stopped.value.code)
    last = folder / "checkpoints" / "last.ckpt"
    assert stopped.value.code not in (0, None) and "SIGTERM" in message and "testing" in message
    assert f"ckpt_path={last}" in message and not (folder / results).exists()
    resumed = run(_cfg(entry, folder, f"ckpt_path={last}"))
    assert json.loads((folder / results).read_text())["test_acc"] == resumed["test_acc"]
    assert resumed["val_acc"] == unbroken["val_acc"] and resumed["test_acc"] == unbroken["test_acc"]


def test_resuming_a_finished_run_over_its_results_is_refused(tmp_path: Path) -> None:
    search_run.run_search(_cfg("search", tmp_path))
    before = (tmp_path / "summary.json").read_text()
    last = tmp_path / "checkpoints" / "last.ckpt"
    with pytest.raises(FileExistsError, match="end of a finished run of 2 epochs.*summary.json"):
        search_run.run_search(_cfg("search", tmp_path, f"ckpt_path={last}"))
    assert (tmp_path / "summary.json").read_text() == before


def test_ctrl_c_names_the_checkpoints_and_which_resumes_exactly(
    tmp_path: Path, monkeypatch
) -> None:
    _with_callback(monkeypatch, train_run, _CtrlCAtSecondBatch())
    with pytest.raises(SystemExit) as stopped:
        train_run.run_train(_cfg("train", tmp_path, "epochs=2"))
    message, folder = str(stopped.value.code), tmp_path / "checkpoints"
    assert message.startswith("stopped by Ctrl-C at epoch 1")
    assert (
        f"resume exactly from the end of the last whole epoch with ckpt_path={folder / 'last.ckpt'}"
        in message
    )
    assert f"ckpt_path={folder / 'interrupted.ckpt'} resumes the steps since" in message
    assert (folder / "interrupted.ckpt").is_file()


def test_a_reused_multirun_folder_is_refused_with_the_sweep_option(tmp_path: Path) -> None:
    """The advice named hydra.run.dir, which a multirun ignores."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from hwnas.runs.run_folder import check_run_folder

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="search", overrides=["debug=fast"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
    HydraConfig.instance().set_config(cfg)
    try:
        with pytest.raises(FileExistsError, match=r"hydra\.sweep\.dir=") as refused:
            check_run_folder(cfg, tmp_path, "summary.json")
        assert "hydra.run.dir" not in str(refused.value)
    finally:
        HydraConfig.instance().cfg = None
        release_run_folder(tmp_path)


def test_a_run_refused_at_its_start_lets_its_folder_and_log_go(tmp_path: Path) -> None:
    """A multirun's next job logged into the failed job's search.log too, and its folder stayed
    locked for the rest of the sweep."""
    import logging
    import warnings

    from hwnas.runs import run_folder

    log_file = logging.FileHandler(tmp_path / "search.log")  # what Hydra's job logging adds
    logging.getLogger().addHandler(log_file)
    shown = warnings.showwarning
    try:
        with pytest.raises(ValueError, match="no architecture step would run"):
            search_run.run_search(_cfg("search", tmp_path / "job0", "arch_update.warmup_epochs=5"))
    finally:
        logging.getLogger().removeHandler(log_file)
        log_file.close()
    assert not run_folder._held
    assert warnings.showwarning is shown  # Python warnings no longer routed into that file
    for name in ("pytorch_lightning", "lightning_fabric", "hwnas.console"):
        assert log_file not in logging.getLogger(name).handlers, name


@pytest.mark.parametrize(
    ("env", "first"),
    [
        ({"RANK": "1"}, False),
        ({"SLURM_PROCID": "1", "SLURM_NTASKS": "2"}, False),
        ({"SLURM_PROCID": "0"}, True),
        ({"LOCAL_RANK": "1"}, False),
        ({"NODE_RANK": "1"}, False),
        ({}, True),
    ],
)
def test_only_the_first_process_of_a_distributed_run_locks_the_folder(
    monkeypatch, env: dict, first: bool
) -> None:
    """srun's tasks carry only SLURM_PROCID: every one but the first was refused."""
    from hwnas.runs import run_folder

    for key in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK", "LOCAL_RANK", "NODE_RANK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert run_folder._is_first_process() is first


def test_a_folder_that_cannot_be_locked_runs_unlocked_with_a_warning(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    import errno
    import fcntl

    from hwnas.runs import run_folder

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with caplog.at_level("WARNING", logger="hwnas.runs.run_folder"):
        hold_run_folder(tmp_path)
    assert "cannot lock the run folder" in caplog.text and not run_folder._held
    monkeypatch.setattr(run_folder, "fcntl", None)  # a platform without file locks
    with caplog.at_level("WARNING", logger="hwnas.runs.run_folder"):
        hold_run_folder(tmp_path)
    assert "this platform has no file locks" in caplog.text


def test_a_stop_while_writing_the_results_says_whether_the_figures_are_kept(
    tmp_path: Path,
) -> None:
    """After summary.json was written, the hint offered a resume that is then refused."""
    from hwnas.runs.trainer import stops_loudly

    trainer = pl.Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    results = tmp_path / "summary.json"
    with (
        pytest.raises(SystemExit) as stopped,
        stops_loudly(trainer, "writing the results", results),
    ):
        raise KeyboardInterrupt
    assert "resume with the run's last checkpoint to test it and write them" in str(stopped.value)
    results.write_text("{}")
    with (
        pytest.raises(SystemExit) as stopped,
        stops_loudly(trainer, "writing the results", results),
    ):
        raise KeyboardInterrupt
    assert f"{results} holds every figure" in str(stopped.value)
    assert "resume" not in str(stopped.value)
