"""CIFAR-10 (Krizhevsky, 2009) through torchvision, with the standard crop-and-flip
augmentation."""

from __future__ import annotations

import copy
from pathlib import Path

from torch.utils.data import Dataset
from torchvision import transforms
from torchvision.datasets import CIFAR10

from hwnas.data.split_datamodule import SplitDataModule

__all__ = ["Cifar10DataModule"]

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
# The folder torchvision's CIFAR10 unpacks into under `root`.
_BATCHES_DIR = "cifar-10-batches-py"


class Cifar10DataModule(SplitDataModule):
    """CIFAR-10: 50,000 training images (split into weight and architecture parts) and the
    10,000-image test set.

    Args:
        data_dir: folder holding (or receiving) torchvision's `cifar-10-batches-py`.
        download: fetch the data set into `data_dir` when it is missing.
        batch_size: images per weight step.
        arch_batch_size: images per architecture step; defaults to `batch_size`.
        arch_fraction: share of the training set held out for architecture steps.
        num_workers: DataLoader worker processes.
        seed: seed of the train/arch split.

    Raises:
        FileNotFoundError: `download` is false and `data_dir` holds no CIFAR-10.
    """

    def __init__(
        self,
        data_dir: str = "data/cifar10",
        download: bool = False,
        batch_size: int = 64,
        arch_batch_size: int | None = None,
        arch_fraction: float = 0.1,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size, arch_batch_size, arch_fraction, num_workers, seed)
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.download = download
        self.in_channels = 3
        self.num_classes = 10
        self.input_size = 32
        # Fail at construction, not minutes later inside the trainer.
        if not download and not (self.data_dir / _BATCHES_DIR).is_dir():
            raise FileNotFoundError(
                f"No CIFAR-10 found in {self.data_dir} (expected {_BATCHES_DIR}/ inside it). "
                "Pass dataset.download=true to fetch it, or dataset.data_dir=... to point at "
                "an existing copy."
            )

    def prepare_data(self) -> None:
        """Download once per node (Lightning calls this on one process only)."""
        if self.download:
            CIFAR10(str(self.data_dir), train=True, download=True)
            CIFAR10(str(self.data_dir), train=False, download=True)

    def build_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        """Return (augmented train, plain train, test)."""
        normalize = transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)
        plain = transforms.Compose([transforms.ToTensor(), normalize])
        augmented = transforms.Compose(
            [
                transforms.RandomCrop(32, padding=4),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                normalize,
            ]
        )
        root = str(self.data_dir)
        train_aug = CIFAR10(root, train=True, transform=augmented)
        # A shallow copy shares the decoded arrays, so the second view costs no memory and
        # indexes the same images in the same order.
        train_plain = copy.copy(train_aug)
        train_plain.transform = plain
        test = CIFAR10(root, train=False, transform=plain)
        return train_aug, train_plain, test
