"""What every entry point does the same way: seeding and the run directory, the trainer from
its config groups (writing checkpoints atomically), phases that fail loudly when a scheduler or
Ctrl-C stops them, the logged scalars, and the end of a run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import OnExceptionCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from hwnas.runs.checkpoint_callbacks import KeptValidation
from hwnas.runs.checkpoint_io import AtomicCheckpointIO
from hwnas.runs.console import (
    fresh_fit_notices_quiet,
    mirror_console_to_run_log,
    quiet_library_notices,
    stop_mirroring,
)
from hwnas.runs.learning_rates import ConfiguredLearningRates
from hwnas.runs.run_folder import check_run_folder, release_run_folder


def unread_additions(overrides: list[str]) -> list[str]:
    """The command line's `+key=value` overrides that add a top-level key no part of hwnas
    reads (a typo such as `+epoch=3`, which Hydra itself suggests for `epoch=3`; Hydra accepts
    a `+` only for a key that does not exist). Nested additions (`+trainer.num_nodes=2`) go to
    their group and are kept; `++key` (set or add) is left alone."""
    added = [o[1:].split("=", 1)[0] for o in overrides if o.startswith("+") and o[1:2] != "+"]
    return [key for key in added if "." not in key and "@" not in key and "/" not in key]


def start_run(cfg: DictConfig) -> Path:
    """Check the command line and the epochs, seed everything (0 is a seed; null leaves the
    generators alone) and create the run directory; returns it."""
    if HydraConfig.initialized():
        typos = unread_additions(list(HydraConfig.get().overrides.task))
        if typos:
            hints = [
                f"+{k}"
                + (
                    f" (did you mean {m[0]}=...?)"
                    if (m := get_close_matches(k, [c for c in cfg if c != k], 1))
                    else ""
                )
                for k in typos
            ]
            raise ValueError(
                f"{', '.join(hints)}: adds a setting that nothing reads; drop it, or "
                "fix the name of an existing one (which needs no +)"
            )
    epochs = cfg.get("epochs")
    if "epochs" in cfg and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1):
        raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}")
    quiet_library_notices()
    mirror_console_to_run_log()
    if cfg.get("seed") is not None:
        pl.seed_everything(int(cfg.seed), workers=True)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def build_trainer(cfg: DictConfig) -> pl.Trainer:
    """`cfg.trainer` with the configured logger (or none) and callbacks; checkpoints are written
    atomically and a failed write stops the run (`AtomicCheckpointIO`), and a resumed run takes
    the configured learning rates (`ConfiguredLearningRates`)."""
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    callbacks += [ConfiguredLearningRates(), KeptValidation()]
    return instantiate(
        cfg.trainer, logger=logger, callbacks=callbacks, plugins=[AtomicCheckpointIO()]
    )


def _resume_hint(trainer: pl.Trainer, phase: str, results: Path | None = None) -> str:
    """What to resume from, naming only checkpoints that exist; after training, whether the
    results file `results` was written."""
    kept = [
        Path(c.ckpt_path)
        for c in trainer.callbacks
        if isinstance(c, OnExceptionCheckpoint)
        and getattr(c, "written", True)
        and Path(c.ckpt_path).is_file()
    ]
    folder = kept[0].parent if kept else Path(trainer.default_root_dir) / "checkpoints"
    for callback in trainer.checkpoint_callbacks:
        folder = Path(getattr(callback, "dirpath", None) or folder)
    last = folder / "last.ckpt"
    if phase != "training" and results is not None and results.is_file():
        return (
            f"training and testing had finished and {results} holds every figure; what is "
            "written after it (the pictures, the wandb media) may be missing"
        )
    if phase != "training":
        where = f"ckpt_path={last}" if last.is_file() else "the run's last checkpoint"
        return (
            f"training had finished and its checkpoints are kept, but the results were not "
            f"written: resume with {where} to test it and write them"
        )
    hints = []
    if last.is_file():
        hints.append(f"resume exactly from the end of the last whole epoch with ckpt_path={last}")
    if kept:
        since = "the steps since" if last.is_file() else "the steps so far"
        hints.append(
            f"ckpt_path={kept[0]} resumes {since}, but finishes the epoch on other "
            "batches than the unbroken run would"
        )
    return "; ".join(hints) or "no checkpoint was written yet: start the run again"


@contextmanager
def stops_loudly(
    trainer: pl.Trainer, phase: str = "training", results: Path | None = None
) -> Iterator[None]:
    """A SIGTERM (how SLURM and other schedulers stop a job) or Ctrl-C ends Lightning's fit,
    test or validation with exit status 0 or a bare 1 and no results; here it ends the run with
    status 1 and a message saying what was kept and how to resume (`results`: the file whose
    presence means the results were written)."""
    try:
        yield
    except SIGTERMException as stop:
        raise _stopped(trainer, "SIGTERM", phase, results) from stop
    except SystemExit as stop:
        if not isinstance(stop.__context__, KeyboardInterrupt):
            raise
        raise _stopped(trainer, "Ctrl-C", phase, results) from stop
    except KeyboardInterrupt as stop:  # outside Lightning's own handling
        raise _stopped(trainer, "Ctrl-C", phase, results, at_step=False) from stop


def _stopped(
    trainer: pl.Trainer, by: str, phase: str, results: Path | None, at_step: bool = True
) -> SystemExit:
    step = f" at epoch {trainer.current_epoch}, step {trainer.global_step}," if at_step else ""
    return SystemExit(
        f"stopped by {by}{step} while {phase}, before the run finished; "
        f"{_resume_hint(trainer, phase, results)}"
    )


def fit(trainer: pl.Trainer, module: pl.LightningModule, **kwargs: Any) -> None:
    """`trainer.fit`, ending the run loudly when a scheduler or Ctrl-C stops it."""
    with (
        stops_loudly(trainer, "training"),
        fresh_fit_notices_quiet(kwargs.get("ckpt_path") is not None),
    ):
        trainer.fit(module, **kwargs)


def scalar_metrics(trainer: pl.Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def fitted_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The scalars after `fit`; a fit resumed from the end of training validates nothing, so
    its validation scalars are the checkpoint's."""
    kept = [c.restored for c in trainer.callbacks if isinstance(c, KeptValidation)]
    return {**(kept[0] if kept else {}), **scalar_metrics(trainer)}


def test(trainer: pl.Trainer, module: pl.LightningModule, **kwargs: Any) -> dict[str, float]:
    """`trainer.test`, ending the run loudly when a scheduler or Ctrl-C stops it; returns the
    scalars it logged."""
    with stops_loudly(trainer, "testing"):
        trainer.test(module, verbose=False, **kwargs)
    return scalar_metrics(trainer)


@contextmanager
def held_run_folder(cfg: DictConfig, results: str) -> Iterator[Path]:
    """`start_run` and `check_run_folder` for the run's whole life: however the run ends, even
    by a refusal at its start, its folder is let go and the log mirroring stops, so the next
    job of a multirun starts clean."""
    out = Path(cfg.paths.output_dir)
    try:
        out = start_run(cfg)
        check_run_folder(cfg, out, results)
        yield out
    finally:
        release_run_folder(out)
        stop_mirroring()


def finish_wandb(trainer: pl.Trainer) -> None:
    """Close the wandb run of this job (each multirun job must end its own)."""
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in trainer.loggers):
        import wandb

        wandb.finish()
