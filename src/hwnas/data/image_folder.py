"""Any image classification set stored in torchvision's ImageFolder layout (ImageNet, or
CIFAR-10 as JPEG files)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import Dataset
from torchvision import transforms
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from hwnas.data.split_datamodule import SplitDataModule

__all__ = ["ImageFolderDataModule"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_LAYOUT = "<root>/train/<class>/<image> and <root>/val/<class>/<image> (or test/ for val/)"


def _class_folders(split_dir: Path) -> list[Path]:
    """Class subfolders of `split_dir`, raising FileNotFoundError when it is missing or holds
    no image."""
    if not split_dir.is_dir():
        raise FileNotFoundError(f"Missing folder {split_dir}; expected the layout {_LAYOUT}.")
    classes = sorted(p for p in split_dir.iterdir() if p.is_dir())
    has_image = any(
        f.suffix.lower() in IMG_EXTENSIONS for c in classes for f in c.rglob("*") if f.is_file()
    )
    if not has_image:
        raise FileNotFoundError(
            f"No images in class subfolders of {split_dir}; expected the layout {_LAYOUT}."
        )
    return classes


def _transforms(size: int, mean: Sequence[float], std: Sequence[float]) -> tuple:
    """(train, eval) transforms: CIFAR-style crop with padding for small images, ImageNet-style
    random resized crop (eval resize ratio 0.875) for large ones."""
    normalize = transforms.Normalize(mean, std)
    if size <= 64:
        train = [transforms.RandomCrop(size, padding=size // 8)]
        resize = size
    else:
        train = [transforms.RandomResizedCrop(size)]
        resize = int(size / 0.875)
    train += [transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalize]
    evaluation = [
        transforms.Resize(resize),
        transforms.CenterCrop(size),
        transforms.ToTensor(),
        normalize,
    ]
    return transforms.Compose(train), transforms.Compose(evaluation)


class ImageFolderDataModule(SplitDataModule):
    """Images under `root/train/<class>/` (split into weight and architecture parts) and
    `root/val/<class>/` (or `root/test/<class>/`) as the test set.

    Args:
        root: data set folder holding `train/` and `val/` or `test/`.
        input_size: side of the square network input.
        mean: per-channel normalisation mean (ImageNet's by default).
        std: per-channel normalisation standard deviation.
        batch_size: images per weight step.
        arch_batch_size: images per architecture step; defaults to `batch_size`.
        arch_fraction: share of the training set held out for architecture steps.
        num_workers: DataLoader worker processes.
        seed: seed of the train/arch split.

    Raises:
        FileNotFoundError: `root`, `root/train` or the test folder is missing or has no images.
    """

    def __init__(
        self,
        root: str,
        input_size: int = 224,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        batch_size: int = 64,
        arch_batch_size: int | None = None,
        arch_fraction: float = 0.1,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size, arch_batch_size, arch_fraction, num_workers, seed)
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"Missing data set root {self.root}; expected {_LAYOUT}.")
        self.mean = tuple(float(m) for m in mean)  # Hydra hands over a ListConfig
        self.std = tuple(float(s) for s in std)
        self.in_channels = 3
        self.input_size = input_size
        train_classes = [p.name for p in _class_folders(self.root / "train")]
        if len(train_classes) < 2:
            raise ValueError(
                f"{self.root / 'train'} holds one class ({train_classes[0]!r}): a "
                "classifier needs two or more class folders"
            )
        self.num_classes = len(train_classes)
        val_dir = self.root / "val"
        self.test_dir = val_dir if val_dir.is_dir() else self.root / "test"
        test_classes = [p.name for p in _class_folders(self.test_dir)]
        if test_classes != train_classes:  # labels follow the sorted folder names
            only_train = sorted(set(train_classes) - set(test_classes))
            only_test = sorted(set(test_classes) - set(train_classes))
            raise ValueError(
                f"the class folders of {self.test_dir} differ from {self.root / 'train'} (only in "
                f"train: {only_train}; only in {self.test_dir.name}: {only_test}): labels are "
                "numbered by sorted folder name, so they would mean different classes; use the "
                "same class folders in both"
            )

    def split_labels(self, train: Dataset) -> list[int]:
        return list(train.targets)  # ImageFolder lists every file's class up front

    def build_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        """Return (augmented train, plain train, test)."""
        train_tf, eval_tf = _transforms(self.input_size, self.mean, self.std)
        train_aug = ImageFolder(str(self.root / "train"), transform=train_tf)
        # A shallow copy shares the file list, so both views index the same images in order.
        train_plain = copy.copy(train_aug)
        train_plain.transform = eval_tf
        test = ImageFolder(str(self.test_dir), transform=eval_tf)
        return train_aug, train_plain, test
