"""What a run says: the run's log file (`search.log`, `train.log`) gets what the console gets,
and the library notices a user can do nothing about are left out, each by its exact text."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# Lightning's and wandb's notices that never apply to an hwnas run, and why.
NOT_FOR_USERS = {
    # an advertisement, printed at every Trainer
    "tip": r"💡 Tip: For seamless cloud logging",
    # Lightning resumes from "last" whenever an OnExceptionCheckpoint exists; hwnas starts a
    # fresh run only in a folder without checkpoints, and names ckpt_path= to resume
    "fit_none": r"`\.fit\(ckpt_path=None\)` was called without a model",
    "fit_last": r'\.fit\(ckpt_path="last"\) is set, but there is no last checkpoint available',
    # a deprecation inside Lightning's own use of torch's pytree
    "pytree": r"`isinstance\(treespec, LeafSpec\)` is deprecated",
}
_TIP = re.compile(NOT_FOR_USERS["tip"])
_LIGHTNING = ("pytorch_lightning", "lightning_fabric")
_console_log = logging.getLogger("hwnas.console")
_console_log.propagate = False  # the console gets the text from print, the file from here


class _NoTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _TIP.match(str(record.msg))


def quiet_library_notices() -> None:
    """Drop the notices of `NOT_FOR_USERS` for the rest of the process."""
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoTip) for f in logger.filters):
            logger.addFilter(_NoTip())
    warnings.filterwarnings("ignore", message=NOT_FOR_USERS["pytree"])


@contextmanager
def fresh_fit_notices_quiet(resuming: bool) -> Iterator[None]:
    """Inside a fit that resumes nothing, Lightning's notices about `ckpt_path` do not apply."""
    with warnings.catch_warnings():
        if not resuming:
            warnings.filterwarnings("ignore", message=NOT_FOR_USERS["fit_none"])
            warnings.filterwarnings("ignore", message=NOT_FOR_USERS["fit_last"])
        yield


def _run_log_handlers() -> list[logging.FileHandler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]


def mirror_console_to_run_log() -> None:
    """Send Lightning's messages and Python warnings to the run's log file too (Hydra's job
    logging writes only the root logger's records there). A no-op outside a Hydra job."""
    files = _run_log_handlers()
    if not files:
        return
    for name in _LIGHTNING:
        logger = logging.getLogger(name)
        for handler in files:
            if handler not in logger.handlers:
                logger.addHandler(handler)
    for handler in files:
        if handler not in _console_log.handlers:
            _console_log.addHandler(handler)
    logging.captureWarnings(True)  # warnings reach the console and the file through logging


def stop_mirroring() -> None:
    """Undo `mirror_console_to_run_log` at the end of a run: the next job of a multirun logs to
    a file of its own."""
    for logger in (*map(logging.getLogger, _LIGHTNING), _console_log):
        for handler in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
            logger.removeHandler(handler)
    logging.captureWarnings(False)


def say(text: str) -> None:
    """Print `text` (a run's results) and write it to the run's log file."""
    print(text)
    if _console_log.handlers:
        _console_log.info(text)
