"""What every entry point does the same way: seeding and the run directory, the trainer from
its config groups (writing checkpoints atomically), a fit that fails loudly when a scheduler
stops it, the logged scalars, and the end of a wandb run."""

from __future__ import annotations

from difflib import get_close_matches
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import OnExceptionCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from hwnas.runs.checkpoint_io import AtomicCheckpointIO
from hwnas.runs.safe_checkpoints import ConfiguredLearningRates


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
            hints = [f"+{k}" + (f" (did you mean {m[0]}=...?)" if (m := get_close_matches(k, [c for c in cfg if c != k], 1)) else "")
                     for k in typos]  # fmt: skip
            raise ValueError(f"{', '.join(hints)}: adds a setting that nothing reads; drop it, or "
                             "fix the name of an existing one (which needs no +)")  # fmt: skip
    epochs = cfg.get("epochs")
    if "epochs" in cfg and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1):
        raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}")
    if cfg.get("seed") is not None:
        pl.seed_everything(int(cfg.seed), workers=True)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def check_run_folder(cfg: DictConfig, out: Path) -> None:
    """Refuse a run folder whose checkpoints belong to another run: their best-epoch and
    last checkpoints would mix with this run's. Resuming from one of them is fine."""
    folder = out / "checkpoints"
    existing = sorted(p.name for p in folder.glob("*.ckpt")) if folder.is_dir() else []
    resume = cfg.get("ckpt_path")
    if existing and (resume is None or Path(resume).resolve().parent != folder.resolve()):
        raise FileExistsError(
            f"{folder} already holds checkpoints of an earlier run ({', '.join(existing)}): give "
            "this run a folder of its own (hydra.run.dir=...), or resume that run with "
            f"ckpt_path={folder / 'last.ckpt'}"
        )


def build_trainer(cfg: DictConfig) -> pl.Trainer:
    """`cfg.trainer` with the configured logger (or none) and callbacks; checkpoints are written
    atomically and a failed write stops the run (`AtomicCheckpointIO`), and a resumed run takes
    the configured learning rates (`ConfiguredLearningRates`)."""
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    callbacks.append(ConfiguredLearningRates())
    return instantiate(cfg.trainer, logger=logger, callbacks=callbacks,
                       plugins=[AtomicCheckpointIO()])  # fmt: skip


def fit(trainer: pl.Trainer, module: pl.LightningModule, **kwargs: Any) -> None:
    """`trainer.fit`. A SIGTERM (how SLURM and other schedulers stop a job) ends Lightning's fit
    with exit status 0 and no results; here it ends the run with status 1, naming the
    checkpoint to resume from."""
    try:
        trainer.fit(module, **kwargs)
    except SIGTERMException as stop:
        saved = [c.ckpt_path for c in trainer.callbacks if isinstance(c, OnExceptionCheckpoint)
                 and getattr(c, "written", True)]  # fmt: skip
        where = (f"the state at that step is in {saved[0]}: resume with ckpt_path={saved[0]}"
                 if saved else "no checkpoint was written at that step: resume from the run's "
                 "last.ckpt")  # fmt: skip
        raise SystemExit(
            f"stopped by SIGTERM at epoch {trainer.current_epoch}, step "
            f"{trainer.global_step}, before the run finished; {where}"
        ) from stop


def scalar_metrics(trainer: pl.Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def finish_wandb(trainer: pl.Trainer) -> None:
    """Close the wandb run of this job (each multirun job must end its own)."""
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in trainer.loggers):
        import wandb

        wandb.finish()
