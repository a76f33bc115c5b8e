"""Shared fixtures for the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_image_tree(root: Path, classes: int, per_class: int, size: int, split: str) -> None:
    """Write `classes` x `per_class` random RGB PNGs of `size` x `size` in ImageFolder layout."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / split / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")


@pytest.fixture
def tiny_tree(tmp_path: Path) -> Path:
    """3 classes x 4 images of 40x40 in train/ and 3 x 2 in val/."""
    write_image_tree(tmp_path, classes=3, per_class=4, size=40, split="train")
    write_image_tree(tmp_path, classes=3, per_class=2, size=40, split="val")
    return tmp_path


@pytest.fixture
def four_class_tree(tmp_path: Path) -> Path:
    """4 classes x 10 images of 8x8 in train/ and 4 x 1 in val/."""
    write_image_tree(tmp_path, classes=4, per_class=10, size=8, split="train")
    write_image_tree(tmp_path, classes=4, per_class=1, size=8, split="val")
    return tmp_path


@pytest.fixture
def cifar_tree(tmp_path: Path) -> Path:
    """CIFAR-10's layout in small: 10 classes x 6 train and 2 test 32x32 PNGs."""
    root = tmp_path / "cifar"
    write_image_tree(root, classes=10, per_class=6, size=32, split="train")
    write_image_tree(root, classes=10, per_class=2, size=32, split="test")
    return root


@pytest.fixture(name="write_image_tree")
def write_image_tree_fixture():
    return write_image_tree
