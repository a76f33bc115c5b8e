"""The child's weights taken from a search run reproduce the supernet's output on that path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from hwnas.architecture.derive import derive_architecture
from hwnas.architecture.timm_model import build_timm_model
from hwnas.search.supernet import SuperNet
from hwnas.training.init_from_search import load_search_weights

CONF = Path(__file__).resolve().parents[2] / "conf"


def _fake_search_run(run: Path, space, indices: list[int]) -> tuple[SuperNet, object]:
    torch.manual_seed(0)
    supernet = SuperNet(space)
    for m in supernet.modules():  # BN statistics other than the defaults, to be copied too
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    arch = derive_architecture(space, indices)
    (run / "checkpoints").mkdir(parents=True)
    arch.save(run / "arch.yaml")
    space_cfg = OmegaConf.load(CONF / "search_space" / "tiny.yaml")
    OmegaConf.save(OmegaConf.create({"search_space": space_cfg}), run / "config.yaml")
    state = {f"supernet.{k}": v for k, v in supernet.state_dict().items()}
    torch.save({"state_dict": state}, run / "checkpoints" / "last.ckpt")
    return supernet, arch


@pytest.mark.parametrize("indices", [[1, 3, 2, 0], [3, 4, 1, 4]])  # the second removes 2 layers
def test_child_matches_the_supernet_path(tmp_path: Path, tiny_space, indices) -> None:
    supernet, arch = _fake_search_run(tmp_path, tiny_space, indices)
    model = build_timm_model(arch)
    copied = load_search_weights(model, tmp_path, arch)
    assert copied == len(model.state_dict())  # every tensor of the child came from the run
    supernet.set_paths(indices)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), supernet.eval()(x), rtol=1e-5, atol=1e-5)


def test_another_architecture_or_a_missing_run_is_refused(tmp_path: Path, tiny_space) -> None:
    _, arch = _fake_search_run(tmp_path / "run", tiny_space, [1, 3, 2, 0])
    other = derive_architecture(tiny_space, [0, 0, 0, 0])
    with pytest.raises(ValueError, match="different architecture"):
        load_search_weights(build_timm_model(other), tmp_path / "run", other)
    with pytest.raises(FileNotFoundError, match="last.ckpt"):
        load_search_weights(build_timm_model(arch), tmp_path, arch)
