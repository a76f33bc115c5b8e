"""Data sets for search and training, each a `SplitDataModule` with a held-out architecture
split."""

from __future__ import annotations

from hwnas.data.cifar10 import Cifar10DataModule
from hwnas.data.image_folder import ImageFolderDataModule
from hwnas.data.mnist_sample import MnistSampleDataModule
from hwnas.data.split_datamodule import SplitDataModule
from hwnas.data.synthetic import SyntheticDataModule

__all__ = [
    "Cifar10DataModule",
    "ImageFolderDataModule",
    "MnistSampleDataModule",
    "SplitDataModule",
    "SyntheticDataModule",
]
