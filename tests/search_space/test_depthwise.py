"""The depthwise convolution with the product-form weight gradient on small CPU maps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hwnas.search.supernet import SuperNet
from hwnas.search_space.depthwise import (
    DepthwiseConv2d,
    depthwise_weight_grad,
    use_small_map_depthwise,
)


def _reference_grads(conv: nn.Conv2d, x: torch.Tensor, grad_out: torch.Tensor):
    x = x.clone().requires_grad_()
    F.conv2d(x, conv.weight, None, conv.stride, conv.padding, 1, conv.groups).backward(grad_out)
    return x.grad, conv.weight.grad


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "channels_last"),
    [(4, 5, 1, True), (4, 7, 1, False), (3, 5, 1, True), (4, 5, 2, True), (2, 7, 1, False)],
)
def test_the_gradients_are_the_convolutions_gradients(size, kernel, stride, channels_last) -> None:
    torch.manual_seed(0)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    conv = nn.Conv2d(24, 24, kernel, stride, kernel // 2, groups=24, bias=False)
    x = torch.randn(6, 24, size, size).contiguous(memory_format=layout)
    fast = DepthwiseConv2d(24, 24, kernel, stride, kernel // 2, groups=24, bias=False)
    fast.load_state_dict(conv.state_dict())
    xf = x.clone().requires_grad_()
    out = fast(xf)
    assert type(out.grad_fn).__name__ == "_SmallMapDepthwiseBackward"  # the product form ran
    torch.testing.assert_close(out, F.conv2d(x, conv.weight, None, stride, kernel // 2, 1, 24))
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    grad_x, grad_w = _reference_grads(conv, x, grad_out)
    torch.testing.assert_close(xf.grad, grad_x)
    torch.testing.assert_close(fast.weight.grad, grad_w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("size", "kernel"), [(7, 5), (4, 3)])
def test_larger_maps_and_kernel_3_keep_onednn(size, kernel) -> None:
    fast = DepthwiseConv2d(8, 8, kernel, 1, kernel // 2, groups=8, bias=False)
    out = fast(torch.randn(2, 8, size, size))
    assert type(out.grad_fn).__name__ == "ConvolutionBackward0"
    with torch.no_grad():
        assert fast(torch.randn(2, 8, 4, 4)).grad_fn is None


def test_the_weight_gradient_in_double_precision_is_exact() -> None:
    torch.manual_seed(1)
    x = torch.randn(5, 8, 4, 4, dtype=torch.float64)
    w = torch.randn(8, 1, 7, 7, dtype=torch.float64, requires_grad=True)
    out = F.conv2d(x, w, None, 1, 3, 1, 8)
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    torch.testing.assert_close(depthwise_weight_grad(x, grad_out, 7, 1, 3), w.grad)


def test_only_plain_depthwise_convolutions_are_turned() -> None:
    net = nn.Sequential(
        nn.Conv2d(8, 8, 5, padding=2, groups=8, bias=False),  # turned
        nn.Conv2d(8, 8, 5, padding=2, groups=8, bias=True),  # has a bias
        nn.Conv2d(8, 16, 3, padding=1, groups=8, bias=False),  # grouped, not depthwise
        nn.Conv2d(8, 8, 1, bias=False),  # pointwise
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8, bias=False),  # dilated
    )
    keys = list(net.state_dict())
    assert use_small_map_depthwise(net) == 1
    assert [type(m) is DepthwiseConv2d for m in net] == [True, False, False, False, False]
    assert list(net.state_dict()) == keys


def test_a_supernet_uses_it_and_its_weight_step_is_unchanged(tiny_space, monkeypatch) -> None:
    """A weight step of the supernet with the product form gives the gradients of plain
    convolutions (the same network with its depthwise convs turned back)."""
    from hwnas.search_space import depthwise

    calls = []
    product_form = depthwise.depthwise_weight_grad
    monkeypatch.setattr(
        depthwise, "depthwise_weight_grad", lambda *a: calls.append(a[2:]) or product_form(*a)
    )
    torch.manual_seed(0)
    fast = SuperNet(tiny_space)
    turned = [m for m in fast.modules() if isinstance(m, DepthwiseConv2d)]
    assert turned
    plain = SuperNet(tiny_space)
    plain.load_state_dict(fast.state_dict())
    for m in plain.modules():
        if isinstance(m, DepthwiseConv2d):
            m.__class__ = nn.Conv2d
    x = torch.randn(8, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    paths = [len(layer.candidates) - 2 for layer in tiny_space.layers]  # larger kernels
    for net in (fast, plain):
        net.set_paths(paths)
        net.to(memory_format=torch.channels_last)
        F.cross_entropy(net(x), torch.arange(8) % 4).backward()
    for (name, a), b in zip(fast.named_parameters(), plain.parameters(), strict=True):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert (5, 1, 2) in calls and (5, 2, 2) in calls  # 4x4 maps at stride 1, 4x4 -> 2x2 at 2


def test_a_large_batch_is_summed_in_chunks_to_the_same_gradient(monkeypatch) -> None:
    from hwnas.search_space import depthwise

    torch.manual_seed(2)
    x = torch.randn(7, 16, 4, 4, dtype=torch.float64)
    grad_out = torch.randn(7, 16, 4, 4, dtype=torch.float64)
    whole = depthwise_weight_grad(x, grad_out, 5, 1, 2)
    monkeypatch.setattr(depthwise, "PRODUCT_ELEMENTS", 2 * 256 * 16)  # chunks of 2 images
    torch.testing.assert_close(depthwise_weight_grad(x, grad_out, 5, 1, 2), whole)
