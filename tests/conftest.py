"""Shared fixtures: a tiny search space and the repository's config directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from hwnas.architecture import macs
from hwnas.search_space import SearchSpace

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def _load_space(
    name: str, in_channels: int = 3, input_size: int = 32, num_classes: int = 10, **overrides
) -> SearchSpace:
    cfg = OmegaConf.load(CONF / "search_space" / f"{name}.yaml")
    return instantiate(
        cfg, in_channels=in_channels, input_size=input_size, num_classes=num_classes, **overrides
    )


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _latency_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Latency tables built by tests go to one temporary cache, never to ~/.cache."""
    monkeypatch.setenv("HWNAS_CACHE", str(tmp_path_factory.getbasetemp() / "hwnas-cache"))


def _hooked_macs(model: torch.nn.Module, input_size: int = 224) -> int:
    """Multiply-adds of every Conv2d and Linear, counted by forward hooks on a 3-channel input."""
    return macs.count_macs(model, (1, 3, input_size, input_size))


@pytest.fixture
def count_macs():
    """`count_macs(model, input_size=224)`: multiply-adds measured by hooks, to check the
    analytic counts against."""
    return _hooked_macs


@pytest.fixture
def tiny_space() -> SearchSpace:
    return _load_space("tiny", in_channels=3, input_size=16, num_classes=4)


@pytest.fixture(name="load_space")
def load_space_fixture():
    """`load_space(name, in_channels, input_size, num_classes, **overrides)` from conf/."""
    return _load_space
