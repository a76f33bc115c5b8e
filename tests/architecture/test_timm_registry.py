"""The models hwnas registers with timm: no pretrained weights, own checkpoints, exact widths."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import yaml

import hwnas.architecture  # noqa: F401  (registers the published nets with timm)
from hwnas.architecture import Architecture, build_timm_model

ARCH_DIR = Path(__file__).resolve().parents[2] / "src" / "hwnas" / "architecture" / "published"
REGISTERED = [
    "proxyless_mobile",
    "proxyless_mobile_14",
    "proxyless_cpu",
    "proxyless_gpu",
    "proxyless_mobile_cifar",
]


@pytest.mark.parametrize("name", REGISTERED)
def test_pretrained_is_refused_with_the_way_to_load_weights(name: str) -> None:
    with pytest.raises(ValueError, match="no pretrained weights.*checkpoint_path="):
        timm.create_model(name, pretrained=True)
    assert timm.create_model(name, pretrained=False, num_classes=3).num_classes == 3


def test_pretrained_is_refused_for_an_arch_file() -> None:
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model("hwnas_arch", arch_file=str(ARCH_DIR / "tiny.yaml"), pretrained=True)


def test_checkpoint_path_loads_a_saved_state_dict(tmp_path: Path) -> None:
    trained = timm.create_model("proxyless_mobile_cifar", num_classes=10)
    torch.save(trained.state_dict(), tmp_path / "weights.pth")
    loaded = timm.create_model(
        "proxyless_mobile_cifar", num_classes=10, checkpoint_path=str(tmp_path / "weights.pth")
    )
    fresh = timm.create_model("proxyless_mobile_cifar", num_classes=10)
    assert all(
        torch.equal(a, b) for a, b in zip(trained.parameters(), loaded.parameters(), strict=True)
    )
    assert not torch.equal(trained.conv_stem.weight, fresh.conv_stem.weight)


def test_channels_are_taken_as_written() -> None:
    data = yaml.safe_load((ARCH_DIR / "tiny.yaml").read_text())
    data.pop("timm_arch_def")
    data["stem"]["channels"] = 12
    data["first_block"].update(in_channels=12, channels=12)
    data["layers"][0]["in_channels"] = 12
    model = build_timm_model(Architecture.from_dict(data))
    assert model.conv_stem.out_channels == 12
    assert model.blocks[0][0].conv_pw.out_channels == 12  # timm would round it up to 16
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 4)
