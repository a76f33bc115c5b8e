"""Batches cut from uint8 image tensors held in memory (on the GPU when training there), with
the augmentation done on whole batches as tensor ops: no per-image decoding, no worker
processes, no host-to-device copy per step. What makes a 32x32 epoch cost only its compute."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor


class ShardedOrder:
    """The sample order of one epoch, shuffled from (seed, epoch) and split over ranks as
    `DistributedSampler` splits it (rank r takes samples r, r + N, ...). Lightning calls
    `set_epoch` before each epoch, so a resumed run draws the same order as an unbroken one.

    Args:
        size: samples in the data set.
        shuffle: draw a new permutation each epoch (else 0, 1, 2, ...).
        seed: base seed of the permutations.
        rank / world_size: this process and the number of processes.
    """

    def __init__(
        self, size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> Tensor:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.arange(self.size)
        per_rank = self.size // self.world_size  # equal shares: ranks step in lockstep
        return order[self.rank : per_rank * self.world_size : self.world_size]


class TensorAugment:
    """Random crop with zero padding and horizontal flip of a uint8 NCHW batch, as
    torchvision's `RandomCrop(size, padding)` + `RandomHorizontalFlip()` do per image.

    Args:
        padding: pixels of zero padding on each side before the crop (0: no crop).
        flip: flip half of the images left-right.
    """

    def __init__(self, padding: int = 4, flip: bool = True) -> None:
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        self.padding, self.flip = padding, flip

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        n, _, h, w = images.shape
        out = images
        if self.padding:
            pad = self.padding
            padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
            dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(images.device)
            dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(images.device)
            rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
            cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
            batch = torch.arange(n, device=images.device)[:, None, None, None]
            channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
            out = padded[batch, channels, rows, cols]
        if self.flip:
            flip = (torch.rand(n, generator=generator) < 0.5).to(images.device)
            out = torch.where(flip[:, None, None, None], out.flip(3), out)
        return out


class TensorBatches:
    """An iterable of (float images, labels) batches, normalised, from uint8 tensors.

    Lightning takes any iterable as a data loader and leaves it unwrapped: sharding over DDP
    ranks is done here (`ShardedOrder`), on the rank and world size given.

    Args:
        images: uint8 NCHW; batches come out on its device.
        labels: int64, one per image.
        batch_size: images per batch (per process).
        mean / std: per-channel normalisation, on the 0..1 scale.
        augment: applied to training batches; None for evaluation.
        shuffle: a new order every epoch.
        drop_last: drop a last, smaller batch.
        seed / rank / world_size: see `ShardedOrder`.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        augment: TensorAugment | None = None,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if images.dtype != torch.uint8 or len(images) != len(labels):
            raise ValueError("TensorBatches needs uint8 images and one label per image")
        self.images, self.labels = images, labels.to(images.device)
        self.batch_size, self.augment, self.drop_last = batch_size, augment, drop_last
        self.sampler = ShardedOrder(len(images), shuffle, seed, rank, world_size)
        self.batch_sampler = None  # Lightning inspects both, as on a DataLoader
        scale = torch.tensor(std, dtype=torch.float32, device=images.device) * 255
        self.scale = (1 / scale).view(1, -1, 1, 1)
        self.shift = (
            torch.tensor(mean, device=images.device) / torch.tensor(std, device=images.device)
        ).view(1, -1, 1, 1)
        self.seed = seed

    def __len__(self) -> int:
        n = len(self.images) // self.sampler.world_size
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = self.sampler.indices().to(self.images.device)
        generator = torch.Generator().manual_seed(
            (self.seed * 100_003 + self.sampler.epoch) * 1_009 + self.sampler.rank
        )
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            images = self.images[index]
            if self.augment is not None:
                images = self.augment(images, generator)
            yield images.float() * self.scale - self.shift, self.labels[index]
