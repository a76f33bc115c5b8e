"""Random but learnable images for benchmarks and tests that need no real data."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, TensorDataset

from hwnas.data.split_datamodule import SplitDataModule

__all__ = ["SyntheticDataModule"]


class SyntheticDataModule(SplitDataModule):
    """Each class has a fixed random mean image; a sample is its class mean plus unit Gaussian
    noise, so a network can learn the labels while the data costs nothing to load.

    Args:
        in_channels: image channels.
        input_size: image side.
        num_classes: number of classes.
        train_size: images in the training set (split again into weight and arch parts).
        test_size: images in the test set.
        batch_size: images per weight step.
        arch_batch_size: images per architecture step; defaults to `batch_size`.
        arch_fraction: share of the training set held out for architecture steps.
        num_workers: DataLoader worker processes.
        seed: seed of the generated data and of the train/arch split.
    """

    def __init__(
        self,
        in_channels: int = 3,
        input_size: int = 32,
        num_classes: int = 10,
        train_size: int = 2048,
        test_size: int = 512,
        batch_size: int = 64,
        arch_batch_size: int | None = None,
        arch_fraction: float = 0.1,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size, arch_batch_size, arch_fraction, num_workers, seed)
        self.in_channels = in_channels
        self.input_size = input_size
        self.num_classes = num_classes
        self.train_size = train_size
        self.test_size = test_size

    def build_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        """Return (train, train, test) drawn around the same class means."""
        generator = torch.Generator().manual_seed(self.seed)
        shape = (self.in_channels, self.input_size, self.input_size)
        means = torch.randn(self.num_classes, *shape, generator=generator)

        def sample(n: int) -> TensorDataset:
            labels = torch.randint(self.num_classes, (n,), generator=generator)
            images = means[labels] + torch.randn(n, *shape, generator=generator)
            return TensorDataset(images, labels)

        train = sample(self.train_size)
        return train, train, sample(self.test_size)
