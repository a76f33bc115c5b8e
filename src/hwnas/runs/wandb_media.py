"""What a search run gives wandb beyond scalars: its pictures as `wandb.Image`s, every layer's
probabilities over the epochs as a `wandb.Table`, and its files (`arch.yaml`, `summary.json`,
the op prices it searched with and the latency table file where there is one) as an artifact.
Offline runs keep all of it for `wandb sync`. Without a wandb logger nothing happens: the
pictures and files are in the run folder whatever the logger."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

from hwnas.runs.search_pictures import PROB_HISTORY_FILE

ARTIFACT_TYPE = "search-result"


def wandb_logger(trainer: pl.Trainer) -> pl.loggers.WandbLogger | None:
    from pytorch_lightning.loggers import WandbLogger

    return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)


def prob_table_rows(data: dict[str, Any]) -> list[list[object]]:
    """Rows (epoch, layer, candidate, probability) of a probability record (arch_probs.json)."""
    return [
        [record["epoch"], layer, name, p]
        for record in data["history"]
        for layer, (names, probs) in enumerate(
            zip(data["candidates"], record["probs"], strict=True)
        )
        for name, p in zip(names, probs, strict=True)
    ]


def artifact_name(run_id: str, hardware: str) -> str:
    """`search-<hardware>-<run id>`; wandb allows letters, digits, `-`, `_` and `.`."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"search-{hardware}-{run_id}")


def log_search_media(
    trainer: pl.Trainer,
    out: Path,
    pictures: dict[str, Path],
    probs: dict[str, Any],
    table_file: Path | None,
    hardware: DictConfig,
) -> None:
    """Log the pictures, the probability table and the run's files to the wandb run."""
    logger = wandb_logger(trainer)
    if logger is None:
        return
    import wandb

    run = logger.experiment
    media = {
        f"pictures/{name}": wandb.Image(str(path), caption=path.name)
        for name, path in pictures.items()
    }
    media["arch/probabilities"] = wandb.Table(
        columns=["epoch", "layer", "candidate", "probability"], data=prob_table_rows(probs)
    )
    run.log(media)
    artifact = wandb.Artifact(
        artifact_name(run.id, str(hardware.get("name", "hw"))),
        type=ARTIFACT_TYPE,
        description="arch.yaml, summary.json and the op prices of a search",
    )
    for name in ("arch.yaml", "summary.json", "op_costs.json", PROB_HISTORY_FILE):
        artifact.add_file(str(out / name), name=name)
    if table_file is not None and Path(table_file).is_file():
        artifact.add_file(str(table_file), name=f"latency_table{Path(table_file).suffix}")
    run.log_artifact(artifact)
