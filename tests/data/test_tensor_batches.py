from __future__ import annotations

import torch
from torchvision import transforms

from hwnas.data.tensor_batches import ShardedOrder, TensorAugment, TensorBatches


def _images(n: int = 16, size: int = 8) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def test_crop_takes_a_window_of_the_zero_padded_image() -> None:
    images = _images()
    out = TensorAugment(padding=2, flip=False)(images, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    offsets = set()
    for b in range(len(images)):
        found = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if torch.equal(out[b], padded[b, :, dy : dy + 8, dx : dx + 8])
        ]
        assert found, f"image {b} is not a crop of its padded input"
        offsets.add(found[0])
    assert len(offsets) > 3  # offsets are drawn per image, not once per batch


def test_flip_mirrors_about_half_of_the_images() -> None:
    images = _images(n=400)
    out = TensorAugment(padding=0, flip=True)(images, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, i.flip(2)) for o, i in zip(out, images, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 150 < sum(flipped) < 250


def test_ranks_split_an_epoch_and_epochs_reshuffle() -> None:
    shards = [ShardedOrder(10, shuffle=True, seed=3, rank=r, world_size=2) for r in (0, 1)]
    a, b = (s.indices() for s in shards)
    assert len(a) == len(b) == 5 and not set(a.tolist()) & set(b.tolist())
    first = a.clone()
    shards[0].set_epoch(1)
    assert not torch.equal(shards[0].indices(), first)
    shards[0].set_epoch(0)
    assert torch.equal(shards[0].indices(), first)  # a resumed epoch draws the same order


def test_batches_are_normalised_as_torchvision_does() -> None:
    images, labels = _images(n=10), torch.arange(10)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    batches = TensorBatches(images, labels, batch_size=4, mean=mean, std=std)
    assert len(batches) == 3  # the last, smaller batch is kept for evaluation
    x, y = next(iter(batches))
    normalize = transforms.Normalize(mean, std)
    expected = torch.stack([normalize(img.float() / 255) for img in images[:4]])
    torch.testing.assert_close(x, expected, atol=1e-5, rtol=0)
    assert y.tolist() == [0, 1, 2, 3]
    training = TensorBatches(
        images, labels, 4, mean, std, TensorAugment(), shuffle=True, drop_last=True
    )
    assert len(training) == 2 and all(len(y) == 4 for _, y in training)
