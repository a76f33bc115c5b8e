from __future__ import annotations

import torch

from hwnas.architecture.timm_model import resolve_architecture
from hwnas.training.module import TrainModule


def _module(**kwargs) -> TrainModule:
    arch = resolve_architecture("proxyless_mobile_cifar").to_dict()
    return TrainModule(arch, optimizer=lambda p: torch.optim.SGD(p, lr=0.1), **kwargs)


def test_zero_init_makes_every_residual_block_the_identity() -> None:
    model = _module(zero_init_last_bn=True).model.eval()
    residual = [b for b in model.blocks.modules() if getattr(b, "has_skip", False)]
    assert len(residual) == 13  # the shortcut layers of ProxylessNAS-Mobile's 21
    x = torch.randn(2, 24, 32, 32)
    block = model.blocks[1][1]  # stage 1's second layer: 24 -> 24, stride 1
    assert block.has_skip
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)
    plain = _module().model.eval()
    with torch.no_grad():
        assert not torch.allclose(plain.blocks[1][1](x), x)


def test_ema_is_not_trained_and_follows_the_weights() -> None:
    module = _module(ema={"decay": 0.5})
    assert not any(p.requires_grad for p in module.ema.parameters())
    with torch.no_grad():
        for p in module.model.parameters():
            p.add_(1.0)
    before = next(module.ema.module.parameters()).clone()
    module.ema.update(module.model, step=10)
    after = next(module.ema.module.parameters())
    torch.testing.assert_close(after, before + 0.5)  # halfway to the moved weights


def test_the_child_trains_with_the_fast_depthwise_gradient_and_saves_plain_keys() -> None:
    """Retraining turns the child's depthwise convs into DepthwiseConv2d (the product-form
    weight gradient on small CPU maps); the checkpoint keys stay timm's, so eval.py and timm
    load them as before."""
    from hwnas.architecture.timm_model import build_timm_model
    from hwnas.search_space.depthwise import DepthwiseConv2d

    module = _module()
    turned = [m for m in module.model.modules() if isinstance(m, DepthwiseConv2d)]
    plain = build_timm_model(module.arch)
    depthwise = [m for m in plain.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(turned) == len(depthwise) == 20  # the first block and 19 MBConv layers (2 Zero)
    assert list(module.model.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(module.model.state_dict())
