"""Base class of every data set used for search: a weight split, a held-out architecture split
carved from the training data with a fixed seed (REFERENCE A5: never the test split), and a test
split."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset


def held_out_split(
    n: int, fraction: float, seed: int, labels: Sequence[int] | None = None
) -> tuple[list[int], list[int]]:
    """(held-out, rest) indices of `n` images, seeded: round(n x `fraction`) held out. Without
    labels a uniform random choice; with them every class gives its share (the floor of
    `fraction` x its size, the images left over going to the classes with the largest
    remainders, and a class always keeps one image for training), so that the held-out
    accuracy the search optimises weighs the classes as the training set does."""
    generator = torch.Generator().manual_seed(seed)
    n_arch = max(1, round(n * fraction))
    if labels is None:
        order = torch.randperm(n, generator=generator).tolist()
        return order[:n_arch], order[n_arch:]
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} images")
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(index)
    classes = sorted(by_class)
    share = {c: len(by_class[c]) * fraction for c in classes}
    take = {c: min(int(share[c]), len(by_class[c]) - 1) for c in classes}
    tie_break = dict(
        zip(classes, torch.randperm(len(classes), generator=generator).tolist(), strict=True)
    )
    left = n_arch - sum(take.values())
    for c in sorted(classes, key=lambda c: (int(share[c]) - share[c], tie_break[c])):
        if left > 0 and take[c] < len(by_class[c]) - 1:
            take[c], left = take[c] + 1, left - 1
    held_out, rest = [], []
    for c in classes:
        members = [by_class[c][i] for i in torch.randperm(len(by_class[c]), generator=generator)]
        held_out += members[: take[c]]
        rest += members[take[c] :]
    if not held_out:
        raise ValueError(
            "no class has two images or more: nothing can be held out for the "
            "architecture steps; give each class several training images"
        )
    mixed = [torch.randperm(len(part), generator=generator).tolist() for part in (held_out, rest)]
    return [held_out[i] for i in mixed[0]], [rest[i] for i in mixed[1]]  # classes mixed


class SplitDataModule(pl.LightningDataModule):
    """A data set split into `train` (weight steps), `arch` (architecture steps and in-search
    validation, held out from training) and `test`.

    Subclasses set `in_channels`, `num_classes` and `input_size` in `__init__` (so a search
    space can be built before `setup`) and implement `build_datasets()`, returning the full
    training set twice (once with training augmentation, once with evaluation transforms) and
    the test set.

    Args:
        batch_size: images per weight step (per process under DDP).
        arch_batch_size: images per architecture step; defaults to `batch_size`.
        arch_fraction: share of the training set held out for architecture steps.
        num_workers: DataLoader worker processes.
        seed: seed of the train/arch split (fixed, so every run and every rank agrees).
    """

    in_channels: int
    num_classes: int
    input_size: int

    def __init__(
        self,
        batch_size: int = 64,
        arch_batch_size: int | None = None,
        arch_fraction: float = 0.1,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not 0.0 < arch_fraction < 1.0:
            raise ValueError(f"arch_fraction must lie in (0, 1), got {arch_fraction}")
        self.batch_size = batch_size
        self.arch_batch_size = arch_batch_size or batch_size
        self.arch_fraction = arch_fraction
        self.num_workers = num_workers
        self.seed = seed
        self.train_set: Dataset | None = None
        self.arch_set: Dataset | None = None
        self.test_set: Dataset | None = None
        # False gives batches in a fixed order (e.g. to compare N processes with one)
        self.shuffle_train = True

    def build_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        """Return (train with augmentation, train with eval transforms, test)."""
        raise NotImplementedError

    def split_labels(self, train: Dataset) -> list[int] | None:
        """The class of every training image, where the data set knows it without loading
        the images: the held-out split then takes the same share of every class. None: a
        uniform random split."""
        return None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train_aug, train_plain, test = self.build_datasets()
        held_out, rest = held_out_split(
            len(train_aug), self.arch_fraction, self.seed, self.split_labels(train_aug)
        )
        self.train_set = Subset(train_aug, rest)
        self.arch_set = Subset(train_plain, held_out)
        self.test_set = test

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        # Under DDP the sampler is made here rather than by Lightning, which would shuffle every
        # training loader: `shuffle_train=False` then still gives rank r samples r, r + N, ...
        trainer = getattr(self, "trainer", None)
        sampler = None
        if trainer is not None and trainer.world_size > 1:
            sampler = DistributedSampler(
                dataset, trainer.world_size, trainer.global_rank, shuffle=shuffle, seed=self.seed
            )
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle if sampler is None else None,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=dataset is self.train_set,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, shuffle=self.shuffle_train)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.arch_set, self.arch_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.arch_batch_size, shuffle=False)

    def arch_batches(self, world_size: int = 1, rank: int = 0, start: int = 0) -> Iterator:
        """Endless stream of architecture-step batches from the held-out split, sharded over
        `world_size` ranks (each epoch of the stream reshuffles), from its `start`-th batch."""
        self.setup("fit")
        sampler = DistributedSampler(
            self.arch_set, num_replicas=world_size, rank=rank, shuffle=True, seed=self.seed
        )
        loader = DataLoader(
            self.arch_set,
            batch_size=self.arch_batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            drop_last=len(self.arch_set) // world_size >= self.arch_batch_size,
        )
        yield from endless(loader, sampler, start)


def endless(batches: Iterable, sampler: Any, start: int = 0) -> Iterator:
    """`batches` over and over, telling `sampler` each new epoch so that every pass reshuffles.
    The first `start` batches are skipped: a resumed search continues the stream where the
    interrupted one stopped (loading, at most, one pass of skipped batches)."""
    epoch, skip = divmod(start, max(1, len(batches)))
    while True:
        sampler.set_epoch(epoch)
        yield from itertools.islice(batches, skip, None)
        skip, epoch = 0, epoch + 1
