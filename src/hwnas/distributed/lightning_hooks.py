"""Keeping Lightning's per-batch collective off a delayed link, and its launcher from killing
a rank that is still writing what it knows.

Before every training batch Lightning broadcasts rank 0's SIGTERM flag over the default
process group, and its SIGTERM handler broadcasts again. On a wide-area link that broadcast
costs rank 1 a one-way latency every step, outside any exchange DTS can delay, so DTS replaces
both: every rank stops at the end of its batch when it received SIGTERM itself (schedulers and
launchers signal every process of a job: Lightning's own launcher passes the signal to its
children, torchrun and SLURM signal every rank). A rank that was not signalled finds its peers
gone at its next exchange and stops with `PeerError`.

When `python train.py trainer.devices=N` starts the ranks itself, a thread in rank 0 SIGKILLs
every process within 5 s of a child exiting non-zero: that races rank 0's `interrupted.ckpt`
and hides its error. Under DTS that thread waits first, long enough for every rank to end by
itself (each exchange ends within `dts.timeout_s`), and rank 0 ends the children it started
once it has written its checkpoint.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from types import FrameType

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)


def replace_sigterm_broadcasts(trainer: pl.Trainer) -> None:
    """Swap Lightning's broadcasting SIGTERM check and handler for local ones. Call from the
    strategy's `setup`, which runs before Lightning registers its signal handlers."""
    loop = trainer.fit_loop.epoch_loop
    connector = trainer._signal_connector
    for owner, name in ((loop, "_broadcast_sigterm_tensor"), (connector, "_sigterm_notifier_fn")):
        if not callable(getattr(owner, name, None)):
            raise RuntimeError(
                f"this pytorch-lightning ({pl.__version__}) has no {type(owner).__name__}.{name}, "
                "which distributed=dts replaces to keep a collective off the delayed link every "
                "batch: install the pytorch-lightning release hwnas is tested with (2.6)"
            )

    def stop_if_signalled() -> None:
        if trainer.received_sigterm:
            raise SIGTERMException()

    def notify(signum: int, _: FrameType | None) -> None:
        log.info(f"rank {trainer.global_rank}: received {signal.Signals(signum).name}")
        if not connector.received_sigterm and trainer.strategy.launcher is not None:
            trainer.strategy.launcher.kill(signum)  # the processes Lightning started itself
        connector.received_sigterm = True

    loop._broadcast_sigterm_tensor = stop_if_signalled  # type: ignore[method-assign]
    connector._sigterm_notifier_fn = notify  # type: ignore[method-assign]


def defer_launcher_kill(grace_s: float) -> None:
    """Make the launcher's child-process watcher (rank 0, when Lightning started the ranks)
    wait `grace_s` before it kills every process; a no-op elsewhere."""
    try:
        from lightning_fabric.strategies.launchers.subprocess_script import _ChildProcessObserver
    except ImportError:  # pragma: no cover - a Lightning without the watcher
        return
    for thread in threading.enumerate():
        if isinstance(thread, _ChildProcessObserver) and not getattr(
            thread, "_hwnas_deferred", False
        ):
            kill_all = thread._terminate_all

            def later(kill_all=kill_all) -> None:
                time.sleep(grace_s)  # the main process exits first, and this thread with it
                kill_all()

            thread._terminate_all = later  # type: ignore[method-assign]
            thread._hwnas_deferred = True  # type: ignore[attr-defined]


def end_children(trainer: pl.Trainer, wait_s: float = 5.0) -> None:
    """Give the ranks this process started `wait_s` to end by themselves, then SIGKILL the
    rest (a hung or stopped one would otherwise outlive the job)."""
    procs: list[subprocess.Popen] = getattr(trainer.strategy.launcher, "procs", None) or []
    deadline = time.monotonic() + wait_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning(f"rank 0: killing rank process {proc.pid}, which did not end by itself")
            proc.kill()
