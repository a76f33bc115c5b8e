"""`AtomicCheckpointIO`: checkpoints written whole or not at all, never with non-finite
weights, and write errors that stop the run.

Lightning's writer (through fsspec) writes a temporary file under /tmp, copies it over the
target and drops a `PermissionError` without a word: on a full disk, or with a checkpoint folder
that cannot be written, its run goes on and ends with exit code 0 and a truncated or missing
checkpoint. Here a checkpoint goes to a temporary file beside the target, is flushed to disk and
renamed over it; any failure leaves the previous file and stops the run with the path and the
cause. A model with a NaN or an infinity (a diverged run) is not written at all, so the file
keeps the last good state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from hwnas.runs.checkpoint_callbacks import non_finite_tensors
from hwnas.util.files import read_checkpoint, write_atomic


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the previous file at that path (if any) is intact."""


class NonFiniteStateError(FloatingPointError):
    """The model diverged; its checkpoint was not written, the previous one is kept."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` with atomic local writes (remote URLs keep Lightning's writer), and
    reads that name the file when it cannot be read."""

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        if "://" in str(path):
            return super().load_checkpoint(path, map_location, weights_only)
        return read_checkpoint(path, map_location=map_location)

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        bad = non_finite_tensors(checkpoint.get("state_dict", {}))
        if bad:
            raise NonFiniteStateError(
                f"the run diverged: {len(bad)} of the model's tensors hold NaN or infinity "
                f"(first: {bad[0]}) at epoch {checkpoint.get('epoch')}, step "
                f"{checkpoint.get('global_step')}, so {path} was not written; {_finite_ones(Path(path))}"
            )
        if "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        try:
            write_atomic(Path(path), lambda f: torch.save(checkpoint, f))
        except OSError as error:
            raise CheckpointWriteError(
                f"could not write the checkpoint {path}: {error}. {_intact(Path(path))}"
            ) from error


def _intact(path: Path) -> str:
    """What is left to resume from after a failed write of `path`, naming only files that exist."""
    fix = "free disk space or make the folder writable, then resume"
    if path.is_file():
        return f"The previous {path.name} there is intact: {fix} with ckpt_path={path}"
    others = sorted(path.parent.glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    if not others:
        return f"No checkpoint of this run exists yet: {fix} by starting the run again"
    best = next((p for p in others if p.name == "last.ckpt"), others[-1])
    return (
        f"{', '.join(p.name for p in others)} in {path.parent} are intact: {fix} with "
        f"ckpt_path={best}"
    )


def _finite_ones(path: Path) -> str:
    """What to resume from after a divergence: the checkpoints already written beside `path`
    (every one was checked finite when it was written)."""
    kept = sorted(path.parent.glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    if not kept:
        return (
            "no checkpoint of this run holds finite weights: start again with a lower "
            "learning rate (optimizer.lr=<lower>)"
        )
    best = next((p for p in kept if p.name == "last.ckpt"), kept[-1])
    return (
        f"{', '.join(p.name for p in kept)} in {path.parent} keep finite states from before: "
        f"resume with a lower learning rate (ckpt_path={best} optimizer.lr=<lower>; a resumed "
        "run takes the configured rate)"
    )
