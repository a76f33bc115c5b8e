"""Depthwise convolutions whose weight gradient is fast on the small feature maps of a CPU search.

On the CPU, oneDNN computes the weight gradient of a kernel-5 or -7 depthwise convolution on a
tiny map (4x4 or smaller: the last stages of a search on 28x28 or 32x32 images) many times more
slowly than its forward. On such maps the gradient is cheaper written out:

    m[a, b, c] = sum_n x[n, c, a] dy[n, c, b]            (input position a, output position b)
    dw[c, t]   = sum_b m[a(t, b), b, c]                  (a(t, b): the input that tap t of
                                                          output b reads; padding reads 0)

a broadcast product over all position pairs (256 on a 4x4 map) and a fixed gather. The forward
and the input gradient stay oneDNN's, the result is the same gradient up to float rounding, and
the module is an `nn.Conv2d` with the same parameters and state-dict keys. benchmarks/README.md
gives the measured timings.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Where the product form is used: at most 16 x 16 (input, output) position pairs (a 4x4 map at
# stride 1, or smaller) and kernels of 5 or more. The product grows with the square of the map's
# positions, so oneDNN's own gradient wins on larger maps; its kernel-3 gradient is fast on small
# maps too.
MAX_POSITION_PAIRS = 16 * 16
MIN_KERNEL = 5
PRODUCT_ELEMENTS = 1 << 23  # 32 MiB of float32: 32 images x 256 pairs x 1024 channels


def depthwise_weight_grad(
    x: Tensor, grad_out: Tensor, kernel: int, stride: int, padding: int
) -> Tensor:
    """The gradient of a depthwise convolution's [C, 1, k, k] weight (no dilation)."""
    n, c, h, w = x.shape
    ho, wo = grad_out.shape[-2:]
    xs = x.permute(0, 2, 3, 1).reshape(n, h * w, 1, c)  # views of channels_last tensors
    gs = grad_out.permute(0, 2, 3, 1).reshape(n, 1, ho * wo, c)
    # A broadcast product, not torch.bmm over the channels: bmm's fixed cost per matrix
    # outweighs products this small.
    # Images in chunks, so the product in flight stays under PRODUCT_ELEMENTS.
    step = max(1, PRODUCT_ELEMENTS // (h * w * ho * wo * c))
    products = sum((xs[i : i + step] * gs[i : i + step]).sum(0) for i in range(0, n, step))
    products = products.reshape(h * w * ho * wo, c)
    products = torch.cat([products, products.new_zeros(1, c)])  # the padding's zero
    index = _tap_index(h, w, ho, wo, kernel, stride, padding, str(x.device))
    grad = products[index].sum(1)  # [k * k, c]
    return grad.t().reshape(c, 1, kernel, kernel)


@lru_cache(maxsize=256)
def _tap_index(
    h: int, w: int, ho: int, wo: int, kernel: int, stride: int, padding: int, device: str
) -> Tensor:
    """[k*k, ho*wo] indices into the flattened (input, output) products: tap (i, j) of output
    (r, s) reads input (r*stride + i - padding, s*stride + j - padding); outside the map, the
    appended zero."""
    taps = torch.arange(kernel)
    rows = torch.arange(ho)[None, :] * stride + taps[:, None] - padding  # [k, ho]
    cols = torch.arange(wo)[None, :] * stride + taps[:, None] - padding  # [k, wo]
    r = rows[:, None, :, None]  # tap row, tap col, out row, out col
    s = cols[None, :, None, :]
    inside = (r >= 0) & (r < h) & (s >= 0) & (s < w)
    out_pos = (torch.arange(ho)[:, None] * wo + torch.arange(wo)[None, :])[None, None]
    flat = (r * w + s) * (ho * wo) + out_pos
    flat = torch.where(inside, flat, torch.full_like(flat, h * w * ho * wo))
    return flat.reshape(kernel * kernel, ho * wo).to(device)


class _SmallMapDepthwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, stride: int, padding: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv2d(x, weight, None, stride, padding, 1, weight.shape[0])

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        s, p = ctx.stride, ctx.padding
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out,
                x,
                weight,
                None,
                [s, s],
                [p, p],
                [1, 1],
                False,
                [0, 0],
                weight.shape[0],
                [True, False, False],
            )[0]
        if ctx.needs_input_grad[1]:
            grad_w = depthwise_weight_grad(x, grad_out, weight.shape[-1], s, p)
        return grad_x, grad_w, None, None


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise `nn.Conv2d` (square kernel, equal stride and zero padding on both axes, no
    dilation, no bias) whose weight gradient takes the product form on small CPU maps."""

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if _small_map_case(x, weight, self.stride[0], self.padding[0]):
            return _SmallMapDepthwise.apply(x, weight, self.stride[0], self.padding[0])
        return super()._conv_forward(x, weight, bias)


def _small_map_case(x: Tensor, weight: Tensor, stride: int, padding: int) -> bool:
    if not (torch.is_grad_enabled() and weight.requires_grad and x.device.type == "cpu"):
        return False
    if x.dtype != torch.float32 or torch.is_autocast_enabled("cpu") or x.dim() != 4:
        return False
    h, w = x.shape[-2:]
    k = weight.shape[-1]
    if k < MIN_KERNEL:
        return False
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    return h * w * ho * wo <= MAX_POSITION_PAIRS


def is_plain_depthwise(module: nn.Module) -> bool:
    """A plain `nn.Conv2d` that `DepthwiseConv2d` computes exactly."""
    return (
        type(module) is nn.Conv2d
        and module.groups == module.in_channels == module.out_channels
        and module.bias is None
        and module.padding_mode == "zeros"
        and isinstance(module.padding, tuple)
        and module.kernel_size[0] == module.kernel_size[1]
        and module.stride[0] == module.stride[1]
        and module.padding[0] == module.padding[1]
        and module.dilation == (1, 1)
    )


def use_small_map_depthwise(root: nn.Module) -> int:
    """Turn every plain depthwise `nn.Conv2d` under `root` into a `DepthwiseConv2d` in place
    (same parameters, same state-dict keys); returns how many were turned."""
    turned = 0
    for module in root.modules():
        if is_plain_depthwise(module):
            module.__class__ = DepthwiseConv2d
            turned += 1
    return turned
