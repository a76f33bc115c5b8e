"""CIFAR-10 (Krizhevsky, 2009) held as uint8 tensors, augmented on the device it trains on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

from hwnas.data.cifar10_arrays import FORMS, ImageArrays, find_source, load_cifar10
from hwnas.data.split_datamodule import SplitDataModule, endless
from hwnas.data.tensor_batches import TensorAugment, TensorBatches
from hwnas.util.folders import default_cache_dir

__all__ = ["Cifar10DataModule"]

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class Cifar10DataModule(SplitDataModule):
    """CIFAR-10: the training images (split into weight and held-out parts) and the 10,000-image
    test set, as uint8 tensors on the training device; crop-and-flip augmentation runs on whole
    batches there (`TensorBatches`), so an epoch is bound by the network, not by decoding.

    Args:
        data_dir: where CIFAR-10 is: torchvision's `cifar-10-batches-py/` inside it, a
            `train/` + `test/` image tree, or a zip of that tree (e.g. the JPEG copy).
        download: fetch torchvision's copy into `data_dir` when none is there.
        batch_size: images per weight step (per process).
        arch_batch_size: images per architecture step and evaluation batch.
        arch_fraction: share of the training images held out (architecture steps in a
            search, validation in training).
        seed: seed of the held-out split, the subset and the epoch orders.
        train_subset: keep this many training images (class-balanced, seeded); None: all.
        crop_padding: zero padding of the random crop (0: none).
        flip: random horizontal flips.
        cache_dir: where decoded image files are cached (None: the hwnas cache).
        device: where the tensors live; None: the trainer's device (else the CPU).

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
        seed: int = 0,
        train_subset: int | None = None,
        crop_padding: int = 4,
        flip: bool = True,
        cache_dir: str | None = None,
        device: str | None = None,
    ) -> None:
        super().__init__(batch_size, arch_batch_size, arch_fraction, 0, seed)
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.download, self.train_subset = download, train_subset
        self.augment = TensorAugment(crop_padding, flip)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.device = torch.device(device) if device else None
        self.in_channels, self.num_classes, self.input_size = 3, 10, 32
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}
        self._loaded_on: torch.device | None = None
        # Fail at construction, not minutes later inside the trainer.
        if not download and find_source(self.data_dir) is None:
            raise FileNotFoundError(
                f"No CIFAR-10 found in {self.data_dir}; expected {FORMS}. Pass "
                "dataset.download=true to fetch it, or dataset.data_dir=... to point at an "
                "existing copy."
            )

    def prepare_data(self) -> None:
        """Download once per node (Lightning calls this on one process only)."""
        if self.download and find_source(self.data_dir) is None:
            from torchvision.datasets import CIFAR10

            CIFAR10(str(self.data_dir), train=True, download=True)

    def _target_device(self) -> torch.device:
        if self.device is not None:
            return self.device
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def setup(self, stage: str | None = None) -> None:
        device = self._target_device()
        if self.splits and self._loaded_on == device:
            return
        source = find_source(self.data_dir)
        if source is None:
            raise FileNotFoundError(f"No CIFAR-10 found in {self.data_dir}; expected {FORMS}.")
        arrays = load_cifar10(source, self.cache_dir)
        if len(arrays.classes) != self.num_classes:
            raise ValueError(f"{source}: {len(arrays.classes)} classes, CIFAR-10 has 10")
        self.splits = {k: (x.to(device), y.to(device)) for k, (x, y) in self._split(arrays).items()}
        self._loaded_on = device

    def _split(self, arrays: ImageArrays) -> dict[str, tuple[Tensor, Tensor]]:
        images, labels = arrays.train_images, arrays.train_labels
        generator = torch.Generator().manual_seed(self.seed)
        if self.train_subset is not None and self.train_subset < len(labels):
            keep = _balanced_subset(labels, self.train_subset, generator)
            images, labels = images[keep], labels[keep]
        n_arch = max(1, round(len(labels) * self.arch_fraction))
        order = torch.randperm(len(labels), generator=generator)
        arch, train = order[:n_arch], order[n_arch:]
        return {
            "train": (images[train], labels[train]),
            "arch": (images[arch], labels[arch]),
            "test": (arrays.test_images, arrays.test_labels),
        }

    def _batches(self, split: str, batch_size: int, train: bool) -> TensorBatches:
        self.setup()
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        images, labels = self.splits[split]
        return TensorBatches(
            images,
            labels,
            batch_size,
            CIFAR10_MEAN,
            CIFAR10_STD,
            self.augment if train else None,
            shuffle=train and self.shuffle_train,
            drop_last=train,
            seed=self.seed,
            rank=rank,
            world_size=world,
        )

    def train_dataloader(self) -> TensorBatches:
        return self._batches("train", self.batch_size, train=True)

    def val_dataloader(self) -> TensorBatches:
        return self._batches("arch", self.arch_batch_size, train=False)

    def test_dataloader(self) -> TensorBatches:
        return self._batches("test", self.arch_batch_size, train=False)

    def arch_batches(self, world_size: int = 1, rank: int = 0, start: int = 0) -> Iterator:
        """Endless stream of held-out batches, reshuffled each pass, sharded over ranks, from
        its `start`-th batch."""
        self.setup()
        images, labels = self.splits["arch"]
        stream = TensorBatches(
            images,
            labels,
            self.arch_batch_size,
            CIFAR10_MEAN,
            CIFAR10_STD,
            shuffle=True,
            drop_last=len(labels) // world_size >= self.arch_batch_size,
            seed=self.seed + 1,
            rank=rank,
            world_size=world_size,
        )
        yield from endless(stream, stream.sampler, start)


def _balanced_subset(labels: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """`size` indices, the same number from every class (seeded), in random order."""
    classes = labels.unique()
    per_class = size // len(classes)
    picks = []
    for c in classes:
        members = (labels == c).nonzero().squeeze(1)
        picks.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    chosen = torch.cat(picks)
    return chosen[torch.randperm(len(chosen), generator=generator)]
