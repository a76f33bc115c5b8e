"""Options of the original code (REFERENCE A2), off by default: no alpha update in a layer whose
active candidate is Zero; in-search validation with BatchNorm in train mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import nn

from hwnas.cost.flops import FlopsCostModel
from hwnas.cost.model import ExpectedCost
from hwnas.runs.search_run import build_search
from hwnas.search import SuperNet
from hwnas.search.arch_step import architecture_step


@pytest.mark.parametrize("skip", [True, False])
def test_a_layer_with_zero_active_keeps_its_alphas_when_asked(tiny_space, skip: bool) -> None:
    net = SuperNet(tiny_space)
    layer, zero = next(
        (n, i)
        for n, spec in enumerate(tiny_space.layers)
        for i, c in enumerate(spec.candidates)
        if c.is_zero
    )
    with torch.no_grad():
        net.blocks[layer].alpha[zero] = 30.0  # Zero is drawn there (p > 0.999999)
    before = [a.detach().clone() for a in net.arch_parameters()]
    optimizer = torch.optim.Adam(net.arch_parameters(), lr=0.1)
    cost = ExpectedCost(FlopsCostModel("MACs"), tiny_space)
    architecture_step(
        net,
        torch.randn(4, 3, 16, 16),
        torch.randint(0, 4, (4,)),
        "full_v2",
        torch.Generator().manual_seed(0),
        cost,
        lambda ce, c: ce + 1e-6 * c,
        optimizer,
        skip_zero_active=skip,
    )
    assert net.blocks[layer].active == zero
    moved = not torch.equal(net.arch_parameters()[layer], before[layer])
    assert moved != skip
    assert (net.arch_parameters()[layer] in optimizer.state) != skip  # no moments either
    others = [i for i, block in enumerate(net.blocks) if i != layer and not block.active_is_zero()]
    assert others and all(not torch.equal(net.arch_parameters()[i], before[i]) for i in others)


def test_validation_can_run_batchnorm_in_train_mode(tmp_path: Path) -> None:
    conf = str(Path(__file__).resolve().parents[2] / "conf")
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = compose(
            config_name="search",
            overrides=[
                "debug=fast",
                "dataset=synthetic",
                "dataset.input_size=16",
                "module.bn_train_in_validation=true",
                f"paths.output_dir={tmp_path}",
            ],
        )
    module, _ = build_search(cfg)
    assert module.bn_train_in_validation
    module._evaluate_argmax(bn_train_mode=True)  # no trainer needed: nothing is re-estimated
    norms = [m for m in module.supernet.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(m.training for m in norms)
    assert not module.supernet.dropout.training
