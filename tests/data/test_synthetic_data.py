from __future__ import annotations

import torch
from torch import nn

from hwnas.data import SyntheticDataModule


def test_shapes_and_sizes() -> None:
    dm = SyntheticDataModule(in_channels=2, input_size=8, num_classes=4, batch_size=16)
    dm.setup()
    assert len(dm.train_set) + len(dm.arch_set) == 2048
    assert len(dm.test_set) == 512
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (16, 2, 8, 8)
    assert labels.min() >= 0 and labels.max() < 4


def test_same_seed_same_data() -> None:
    a, b, c = (SyntheticDataModule(input_size=8, seed=s) for s in (1, 1, 2))
    for dm in (a, b, c):
        dm.setup()
    assert torch.equal(a.test_set.tensors[0], b.test_set.tensors[0])
    assert a.arch_set.indices == b.arch_set.indices
    assert not torch.equal(a.test_set.tensors[0], c.test_set.tensors[0])


def test_a_linear_net_learns_the_labels() -> None:
    torch.manual_seed(0)
    dm = SyntheticDataModule(input_size=8, num_classes=10, batch_size=64)
    dm.setup()
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    for images, labels in dm.train_dataloader():
        loss = nn.functional.cross_entropy(net(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    images, labels = dm.test_set.tensors
    accuracy = (net(images).argmax(1) == labels).float().mean().item()
    assert accuracy > 0.9  # chance is 0.1
