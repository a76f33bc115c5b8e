"""A trained network from a `train.py` checkpoint alone: the checkpoint carries its architecture,
so nothing else is needed to rebuild it, and a mismatch with what the caller expects is caught
before any figure is computed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from hwnas.architecture.arch_file import Architecture
from hwnas.architecture.timm_model import build_timm_model
from hwnas.util.files import read_checkpoint

WEIGHTS = ("auto", "model", "ema")


@dataclass
class TrainedNetwork:
    """The rebuilt network, its architecture, which weights were loaded and the epoch."""

    model: nn.Module
    arch: Architecture
    weights: str
    epoch: int


def _folder_message(folder: Path) -> str:
    """Why a folder is not a checkpoint, and the checkpoints in it to pass instead."""
    found = sorted([*folder.glob("*.ckpt"), *folder.glob("checkpoints/*.ckpt")])
    if not found:
        return (
            f"{folder} is a folder, not a checkpoint, and holds no .ckpt file: pass a "
            "checkpoint of a train.py run (outputs/train/<run>/checkpoints/last.ckpt)"
        )
    best = next((p for p in found if p.name == "last.ckpt"), found[0])
    names = ", ".join(str(p.relative_to(folder)) for p in found)
    others = f" (it holds {len(found)}: {names})" if len(found) > 1 else ""
    return f"{folder} is a folder, not a checkpoint; pass the file {best}{others}"


def _architecture(checkpoint: dict[str, Any], path: Path) -> Architecture:
    data = checkpoint.get("architecture") or checkpoint.get("hyper_parameters", {}).get("arch")
    if data is None:
        hint = (
            " (a search checkpoint: train its arch.yaml with train.py first)"
            if any(k.startswith("supernet.") for k in checkpoint.get("state_dict", {}))
            else ""
        )
        raise ValueError(
            f"{path}: no architecture in this checkpoint; eval.py needs a "
            f"checkpoint written by train.py{hint}"
        )
    return Architecture.from_dict(dict(data), where=f"{path} (architecture)")


def load_trained_network(
    path: str | Path, expected: Architecture | None = None, weights: str = "auto"
) -> TrainedNetwork:
    """Rebuild the network of a `train.py` checkpoint.

    Args:
        path: the `.ckpt` file.
        expected: if given, the checkpoint must hold this architecture.
        weights: `model` (the trained weights), `ema` (their moving average) or `auto` (the
            average where the run kept one).

    Raises:
        FileNotFoundError / ValueError: a missing or unreadable file, a folder, a checkpoint
            without an architecture, of another architecture than `expected`, or whose weights
            do not fit.
    """
    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; choose one of {WEIGHTS}")
    path = Path(path)
    if path.is_dir():
        raise FileNotFoundError(_folder_message(path))
    checkpoint = read_checkpoint(path)
    arch = _architecture(checkpoint, path)
    if expected is not None and (
        expected.arch_def() != arch.arch_def() or expected.num_classes != arch.num_classes
    ):
        raise ValueError(
            f"{path} holds architecture {arch.name!r} ({arch.num_classes} classes), not "
            f"{expected.name!r} ({expected.num_classes} classes): pass the checkpoint of that "
            "architecture, or leave arch unset to evaluate whatever the checkpoint holds"
        )
    state = checkpoint.get("state_dict", {})
    has_ema = any(k.startswith("ema.module.") for k in state)
    if weights == "ema" and not has_ema:
        raise ValueError(f"{path}: weights=ema, but this run kept no EMA (module.ema was null)")
    chosen = "ema" if weights == "ema" or (weights == "auto" and has_ema) else "model"
    prefix = "ema.module." if chosen == "ema" else "model."
    own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    model = build_timm_model(arch)
    try:
        model.load_state_dict(own)
    except RuntimeError as err:
        raise ValueError(
            f"{path}: its weights do not fit its architecture {arch.name!r} "
            f"({str(err).splitlines()[0]})"
        ) from err
    return TrainedNetwork(model.eval(), arch, chosen, int(checkpoint.get("epoch", -1)))
