"""Keeping Lightning's per-batch collective off a delayed link.

Before every training batch Lightning broadcasts rank 0's SIGTERM flag over the default
process group, and its SIGTERM handler broadcasts again. On a wide-area link that broadcast
costs rank 1 a one-way latency every step, outside any exchange DTS can delay, so DTS replaces
both: every rank stops at the end of its batch when it received SIGTERM itself (schedulers and
launchers signal every process of a job: Lightning's own launcher passes the signal to its
children, torchrun and SLURM signal every rank). A rank that was not signalled finds its peers
gone at its next exchange and stops with `PeerError`.
"""

from __future__ import annotations

import logging
import signal
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
                "batch: install a pytorch-lightning version that hwnas supports (2.2-2.6)"
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
