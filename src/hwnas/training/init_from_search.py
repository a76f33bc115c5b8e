"""Start retraining from the supernet's weights: the search already trained every op the
derived network uses, so its child is a better start than a random initialisation."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor, nn

from hwnas.architecture.arch_file import Architecture
from hwnas.search_space.space import SearchSpace
from hwnas.util.files import read_checkpoint

log = logging.getLogger(__name__)

SUPERNET = "supernet."
FIXED = ("conv_stem.", "bn1.", "conv_head.", "bn2.", "classifier.")


def _search_files(run_dir: Path) -> tuple[Path, Path, Path]:
    ckpt_dir = run_dir / "checkpoints"
    ckpt = ckpt_dir / "last.ckpt"
    files = (run_dir / "config.yaml", run_dir / "arch.yaml", ckpt)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"init_from_search={run_dir}: missing {missing}; pass the directory of a finished "
            "search run (it holds config.yaml, arch.yaml and checkpoints/last.ckpt)"
        )
    return files


def child_state_dict(
    supernet_state: dict[str, Tensor], space: SearchSpace, arch: Architecture
) -> dict[str, Tensor]:
    """The supernet's weights of `arch`'s ops, under the timm `EfficientNet`'s names: stem and
    head by name, the first block as `blocks.0.0`, searched layer l's chosen candidate as the
    timm block it becomes (removed layers skipped)."""
    weights = {k[len(SUPERNET) :]: v for k, v in supernet_state.items() if k.startswith(SUPERNET)}
    out = {k: v for k, v in weights.items() if k.startswith(FIXED)}
    out |= {
        f"blocks.0.0.{k[len('first_block.') :]}": v
        for k, v in weights.items()
        if k.startswith("first_block.")
    }
    stage_pos: dict[int, int] = {}
    stages = sorted({b.stage for b in arch.layers if not b.removed})
    for i, (layer, block) in enumerate(zip(space.layers, arch.layers, strict=True)):
        if block.removed:
            continue
        names = [c.name for c in layer.candidates]
        if block.op not in names:
            raise ValueError(f"layer {i}: op {block.op} is not a candidate ({names})")
        j = names.index(block.op)
        timm_stage = 1 + stages.index(block.stage)
        pos = stage_pos.get(timm_stage, 0)
        stage_pos[timm_stage] = pos + 1
        prefix = f"blocks.{i}.candidates.{j}."
        out |= {
            f"blocks.{timm_stage}.{pos}.{k[len(prefix) :]}": v
            for k, v in weights.items()
            if k.startswith(prefix)
        }
    return out


def load_search_weights(model: nn.Module, run_dir: str | Path, arch: Architecture) -> int:
    """Copy the weights of `arch`'s ops from the search run at `run_dir` into `model`.

    Raises:
        FileNotFoundError: the run lacks its config, architecture or last checkpoint.
        ValueError: `arch` is not the run's derived architecture, or shapes disagree.

    Returns:
        The number of tensors copied.
    """
    config_file, arch_file, ckpt = _search_files(Path(run_dir))
    searched = Architecture.load(arch_file)
    if searched.arch_def() != arch.arch_def() or searched.input_size != arch.input_size:
        raise ValueError(
            f"init_from_search={run_dir}: that run derived a different architecture than the "
            f"one being trained; pass arch={arch_file} (or leave arch unset)"
        )
    cfg = OmegaConf.load(config_file)
    space = instantiate(
        cfg.search_space,
        in_channels=searched.in_channels,
        input_size=searched.input_size,
        num_classes=searched.num_classes,
    )
    state = read_checkpoint(ckpt)["state_dict"]
    child = child_state_dict(state, space, searched)
    if arch.num_classes != searched.num_classes:  # a new classifier for a new label set
        child = {k: v for k, v in child.items() if not k.startswith("classifier.")}
    own = model.state_dict()
    bad = [k for k, v in child.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise ValueError(
            f"init_from_search={run_dir}: weights that do not fit the network: {bad[:5]}"
        )
    model.load_state_dict(child, strict=False)
    log.info("init_from_search: %d tensors from %s", len(child), ckpt)
    return len(child)
