"""BN recalibration of the argmax path before evaluation."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

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


def test_each_epoch_calibrates_on_other_batches_under_ddp(tmp_path, monkeypatch) -> None:
    """Under DDP a fresh loader's DistributedSampler starts at epoch 0: each calibration of
    the argmax path must still see other batches."""
    from types import SimpleNamespace

    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    import hwnas.search.module as search_module
    from hwnas.runs.search_run import build_search

    conf = str(Path(__file__).resolve().parents[2] / "conf")
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = compose(
            config_name="search",
            overrides=[
                "debug=fast",
                "dataset=synthetic",
                "dataset.input_size=16",
                f"paths.output_dir={tmp_path}",
            ],
        )
    module, _ = build_search(cfg)
    data = TensorDataset(torch.randn(64, 3, 16, 16), torch.arange(64))

    def loader() -> DataLoader:  # as SplitDataModule makes it on rank 0 of 2
        return DataLoader(data, batch_size=8, sampler=DistributedSampler(data, 2, 0, seed=0))

    seen = []
    monkeypatch.setattr(
        search_module,
        "recalibrate_batchnorm",
        lambda net, batches, n, device: seen.append(next(iter(batches))[1]),
    )
    for epoch in (0, 1):
        module._trainer = SimpleNamespace(  # what _evaluate_argmax reads of Lightning's Trainer
            datamodule=SimpleNamespace(train_dataloader=loader), current_epoch=epoch
        )
        module._evaluate_argmax()
    assert not torch.equal(seen[0], seen[1])
