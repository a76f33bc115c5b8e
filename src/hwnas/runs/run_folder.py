"""One run per folder, for the run's whole life: the folder is locked while a run uses it, a new
run refuses a folder holding another run's checkpoints, and a finished run is not resumed over
its own results."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hwnas.util.files import read_checkpoint

try:
    import fcntl
except ImportError:  # Windows: runs go unlocked
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
LOCK_NAME = ".run.lock"
_held: dict[Path, int] = {}  # folder -> open lock file of this process


class FolderInUseError(RuntimeError):
    """Another process is running in the run folder."""


def _is_first_process() -> bool:
    """The process that owns the run folder: the only one, or global rank 0 of a distributed
    run (its other ranks share the folder and write nothing of their own there)."""
    for key in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):  # torchrun, srun, jsrun
        if key in os.environ:
            return int(os.environ[key]) == 0
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def hold_run_folder(out: Path) -> None:
    """Lock `out` until `release_run_folder(out)` or the end of the process; a second run that
    starts in it meanwhile is refused, naming the process that holds it."""
    folder = out.resolve()
    if folder in _held or not _is_first_process():
        return
    if fcntl is None:
        log.warning(
            "%s: this platform has no file locks, so nothing stops a second run from "
            "using this folder at the same time",
            folder,
        )
        return
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if not isinstance(error, BlockingIOError):  # a file system without flock
            os.close(fd)
            log.warning(
                "%s: cannot lock the run folder (%s), so nothing stops a second run "
                "from using it at the same time",
                folder,
                error,
            )
            return
        holder = os.read(fd, 512).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise FolderInUseError(
            f"{folder} is in use by another run ({holder}): two runs in one folder would mix "
            "their checkpoints and overwrite each other's results. Wait for it to end, or give "
            "this run a folder of its own (hydra.run.dir=..., or hydra.sweep.dir=... for a "
            "multirun)"
        ) from None
    os.ftruncate(fd, 0)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n".encode())
    _held[folder] = fd


def release_run_folder(out: Path) -> None:
    """Let other runs use `out` again (the lock file stays: removing it would race a newcomer)."""
    fd = _held.pop(out.resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the file releases the lock


def _own_folder() -> str:
    """How to give this run a folder of its own: a multirun's jobs live under hydra.sweep.dir."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return "give the sweep a folder of its own (hydra.sweep.dir=...)"
    return "give this run a folder of its own (hydra.run.dir=...)"


def _finished(checkpoint: dict[str, Any], epochs: int) -> bool:
    """Whether `checkpoint` was written after the last epoch of a run of `epochs` epochs."""
    try:
        progress = checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]
    except (KeyError, TypeError):
        return False
    return int(progress.get("processed", 0)) >= epochs


def check_run_folder(cfg: DictConfig, out: Path, results: str) -> None:
    """Hold `out` for this run and refuse it when its checkpoints belong to another run: their
    best-epoch and last checkpoints would mix with this run's. Resuming from one of them is
    fine, unless the run had finished and written `results`: resuming it would train nothing
    and overwrite those results with a poorer copy."""
    hold_run_folder(out)
    folder = out / "checkpoints"
    existing = sorted(p.name for p in folder.glob("*.ckpt")) if folder.is_dir() else []
    resume = cfg.get("ckpt_path")
    if existing and (resume is None or Path(resume).resolve().parent != folder.resolve()):
        raise FileExistsError(
            f"{folder} already holds checkpoints of an earlier run ({', '.join(existing)}): "
            f"{_own_folder()}, or resume that run with ckpt_path={folder / 'last.ckpt'}"
        )
    epochs = cfg.get("epochs")
    if resume is None or not (out / results).is_file() or not isinstance(epochs, int):
        return
    if _finished(read_checkpoint(resume), epochs):
        raise FileExistsError(
            f"ckpt_path={resume} is the end of a finished run of {epochs} epochs, whose results "
            f"are in {out / results}: resuming it would train nothing and overwrite them. To "
            f"train longer, resume with more epochs (epochs=...); to start again, {_own_folder()}"
        )
