"""`AtomicCheckpointIO`: checkpoints written whole or not at all, and write errors that stop the
run.

Lightning writes a checkpoint into the target file directly (a full disk leaves it truncated)
and drops a `PermissionError` without a word, so a run whose checkpoint folder cannot be written
ended with exit code 0 and no checkpoint. Here a checkpoint goes to a temporary file beside the
target, is flushed to disk and renamed over it; any failure leaves the previous file and stops
the run with the path and the cause.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from hwnas.files import write_atomic


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the previous file at that path (if any) is intact."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` with atomic local writes (remote URLs keep Lightning's writer)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any | None = None) -> None:  # fmt: skip
        if "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        try:
            write_atomic(Path(path), lambda f: torch.save(checkpoint, f))
        except OSError as error:
            raise CheckpointWriteError(
                f"could not write the checkpoint {path}: {error}. The previous file there (if "
                "any) is intact; free disk space or make the folder writable, then resume from it"
            ) from error
