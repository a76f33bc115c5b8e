from __future__ import annotations

import torch

from hwnas.data import MnistSampleDataModule


def test_shapes_classes_and_split_sizes() -> None:
    dm = MnistSampleDataModule(batch_size=32)
    assert (dm.in_channels, dm.num_classes, dm.input_size) == (1, 10, 28)
    dm.setup("fit")
    assert len(dm.train_set) == 3600
    assert len(dm.arch_set) == 400
    assert len(dm.test_set) == 1000
    assert len(dm.train_set) + len(dm.arch_set) + len(dm.test_set) == 5000
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (32, 1, 28, 28) and images.dtype == torch.float32
    assert labels.dtype == torch.long
    all_images, all_labels = dm.test_set.tensors
    assert set(all_labels.tolist()) == set(range(10))
    # Normalised: background pixels sit at -mean/std, the whole set near zero mean.
    assert abs(all_images.min().item() + 0.1307 / 0.3081) < 1e-5
    assert abs(all_images.mean().item()) < 0.2


def test_arch_split_disjoint_from_train_split() -> None:
    dm = MnistSampleDataModule()
    dm.setup()
    train_idx, arch_idx = set(dm.train_set.indices), set(dm.arch_set.indices)
    assert not train_idx & arch_idx
    assert train_idx | arch_idx == set(range(4000))


def test_split_is_deterministic_per_seed() -> None:
    a, b, c = MnistSampleDataModule(seed=3), MnistSampleDataModule(seed=3), MnistSampleDataModule()
    for dm in (a, b, c):
        dm.setup()
    assert a.arch_set.indices == b.arch_set.indices
    assert torch.equal(a.test_set.tensors[1], b.test_set.tensors[1])
    assert a.arch_set.indices != c.arch_set.indices


def test_arch_batches_shards_are_disjoint() -> None:
    dm = MnistSampleDataModule(arch_batch_size=50)
    dm.setup()
    # 400 arch images over 2 ranks: one pass of the stream is 200 images = 4 batches per rank.
    shards = []
    for rank in (0, 1):
        stream = dm.arch_batches(world_size=2, rank=rank)
        batches = [next(stream)[0] for _ in range(4)]
        shards.append({img.numpy().tobytes() for img in torch.cat(batches)})
    assert len(shards[0]) == len(shards[1]) == 200
    assert not shards[0] & shards[1]
    arch_images = {dm.arch_set[i][0].numpy().tobytes() for i in range(len(dm.arch_set))}
    assert shards[0] | shards[1] == arch_images
