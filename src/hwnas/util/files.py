"""Files written whole or not at all: a temporary file beside the target, flushed to disk, then
renamed over it. A run that fails while writing (a full disk, a kill) leaves the previous good
file in place, never a truncated one. And checkpoints read with the path in every error."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch


def _plain_mode(path: Path) -> int:
    """The permissions a plain `open(path, "w")` would leave: an existing file's own, else
    0666 less the umask (`mkstemp` alone gives 0600, which colleagues cannot read)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Create `path` through `write(file)` on a temporary file, then rename it into place. The
    file gets the permissions a plain write would give it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _plain_mode(path))
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """`path.write_text(text)`, atomically."""
    return write_atomic(path, lambda f: f.write(text.encode()))


def finite_or_none(value: Any) -> Any:
    """`value` with every NaN or infinity (at any depth) replaced by None: strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def write_json(path: str | Path, value: Any, indent: int | None = 2) -> Path:
    """Strict JSON (a NaN becomes null, which every reader accepts), written atomically."""
    return write_text(path, json.dumps(finite_or_none(value), indent=indent, allow_nan=False))


class UnreadableCheckpointError(ValueError):
    """A checkpoint file that exists but cannot be read (truncated, or not a checkpoint)."""


def read_checkpoint(path: str | Path, map_location: str | None = "cpu") -> dict[str, Any]:
    """`torch.load` of a checkpoint, failing with the path and what to do instead of a bare
    `EOFError` or zip error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path.resolve()}")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # a truncated or foreign file raises many kinds
        raise UnreadableCheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {err}); it is "
            "truncated or not a checkpoint: use another one of the run (last.ckpt, the best "
            "epoch's)"
        ) from err
