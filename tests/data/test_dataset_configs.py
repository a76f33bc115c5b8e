from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from hwnas.data import SplitDataModule

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "dataset"


def test_every_dataset_config_is_covered() -> None:
    assert {p.stem for p in CONF_DIR.glob("*.yaml")} == {
        "mnist",
        "cifar10",
        "imagefolder",
        "synthetic",
    }


@pytest.mark.parametrize("name", ["mnist", "synthetic"])
def test_config_instantiates_without_data(name: str) -> None:
    dm = instantiate(OmegaConf.load(CONF_DIR / f"{name}.yaml"))
    assert isinstance(dm, SplitDataModule)
    assert dm.num_classes == 10 and dm.batch_size == 64


def test_cifar10_config_gives_the_clear_error(tmp_path: Path) -> None:
    cfg = OmegaConf.load(CONF_DIR / "cifar10.yaml")
    cfg.data_dir = str(tmp_path)
    with pytest.raises(InstantiationException, match="dataset.download=true") as info:
        instantiate(cfg)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_cifar10_default_path_follows_hwnas_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWNAS_DATA", "/datasets")
    assert OmegaConf.load(CONF_DIR / "cifar10.yaml").data_dir == "/datasets/cifar10"


def test_imagefolder_config_on_a_tiny_tree(tiny_tree: Path, tmp_path: Path) -> None:
    cfg = OmegaConf.load(CONF_DIR / "imagefolder.yaml")
    cfg.root = str(tiny_tree)
    dm = instantiate(cfg)
    assert dm.num_classes == 3 and dm.input_size == 224
    assert dm.mean == (0.485, 0.456, 0.406)
    cfg.root = str(tmp_path / "absent")
    with pytest.raises(InstantiationException, match="Missing data set root"):
        instantiate(cfg)
