"""BN recalibration of the argmax path before evaluation."""

from __future__ import annotations

import torch

from hwnas.search import SuperNet
from hwnas.search.bn_calibration import recalibrate_batchnorm


def test_running_stats_become_the_average_over_calibration_batches(tiny_space) -> None:
    net = SuperNet(tiny_space).eval()
    net.set_paths([0, 0, 0, 0])
    batches = [(torch.randn(8, 3, 16, 16) * 2 + 1, torch.zeros(8)) for _ in range(4)]
    used = recalibrate_batchnorm(net, iter(batches), num_batches=3, device=torch.device("cpu"))
    assert used == 3
    with torch.no_grad():
        means = [net.conv_stem(x).mean(dim=(0, 2, 3)) for x, _ in batches[:3]]
    torch.testing.assert_close(
        net.bn1.running_mean, torch.stack(means).mean(0), rtol=1e-4, atol=1e-5
    )
    assert net.bn1.momentum == 0.1 and not net.training  # settings and mode restored
    inactive_bn = net.blocks[0].candidates[1].bn1  # never ran: reset, not stale
    assert torch.equal(inactive_bn.running_mean, torch.zeros_like(inactive_bn.running_mean))
