"""The networks with published Pixel 1 latencies (REFERENCE A4), as the ops a cost model
prices. MobileNetV1 and V2 are written out from their papers' layer tables (and checked against
timm's `mobilenetv1_100` / `mobilenetv2_100` in the tests); the ProxylessNAS nets come from their
architecture files in hwnas/architecture/published."""

from __future__ import annotations

from dataclasses import dataclass

from timm.layers import make_divisible

from hwnas.architecture.timm_model import resolve_architecture
from hwnas.cost.op_shapes import OpShape, architecture_ops
from hwnas.search_space.layer_spec import conv_output_size

PROXYLESS_PAPER = "ProxylessNAS (Cai et al., ICLR 2019), via REFERENCE A4"
MOBILENETV2_PAPER = "MobileNetV2 (Sandler et al., CVPR 2018), Table 4"

# MobileNetV1 (Howard et al. 2017, Table 1): depthwise-separable blocks (out channels, stride)
# after a 3x3/2 stem to 32; no 1x1 head conv: the last block's 1024 channels go to pool + FC.
MOBILENET_V1_BLOCKS = (
    [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    + [(512, 1)] * 5
    + [(1024, 2), (1024, 1)]
)

# MobileNetV2 (Sandler et al. 2018, Table 2): (expand t, channels c, repeats n, stride s) after
# a 3x3/2 stem to 32 and an expand-1 block to 16; head 1x1 conv to 1280.
MOBILENET_V2_STAGES = [
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


@dataclass(frozen=True)
class ReferenceNet:
    """A network with a published end-to-end latency; `fitted` is False for a held-out check."""

    name: str
    ops: tuple[OpShape, ...]
    published_ms: float
    source: str
    fitted: bool = True


def _mbconv_chain(
    size: int, cin: int, blocks: list[tuple[int, int, int, float]], residual: bool
) -> tuple[list[OpShape], int, int]:
    """MBConv ops for blocks (out channels, kernel, stride, expand) from a `size` x `size` x
    `cin` input, with identity shortcuts where shapes allow if `residual`; returns the ops and
    the output size and channels."""
    ops = []
    for cout, kernel, stride, expand in blocks:
        shortcut = residual and stride == 1 and cin == cout
        ops.append(OpShape("expanded_conv", size, cin, cout, kernel, stride, expand, shortcut))
        size, cin = conv_output_size(size, stride), cout
    return ops, size, cin


def mobilenet_v1_ops(input_size: int = 224, num_classes: int = 1000) -> list[OpShape]:
    """MobileNetV1 (1.0): stem, 13 depthwise-separable blocks (no shortcuts), pool + FC."""
    stem = OpShape("conv", input_size, 3, 32, 3, 2)
    blocks = [(c, 3, s, 1.0) for c, s in MOBILENET_V1_BLOCKS]
    ops, size, channels = _mbconv_chain(stem.output_size, 32, blocks, residual=False)
    return [stem, *ops, OpShape("logits", size, channels, num_classes)]


def mobilenet_v2_ops(
    width: float = 1.0, input_size: int = 224, num_classes: int = 1000
) -> list[OpShape]:
    """MobileNetV2 at width multiplier `width`, rounded to multiples of 8 as in the paper and
    timm (the 1280 head only grows)."""

    def scaled(c: int) -> int:
        return int(make_divisible(c * width, 8))

    stem = OpShape("conv", input_size, 3, scaled(32), 3, 2)
    blocks = [(scaled(16), 3, 1, 1.0)]
    for t, c, n, s in MOBILENET_V2_STAGES:
        blocks += [(scaled(c), 3, s if i == 0 else 1, float(t)) for i in range(n)]
    ops, size, channels = _mbconv_chain(stem.output_size, stem.out_channels, blocks, residual=True)
    head = max(1280, scaled(1280))
    return [
        stem,
        *ops,
        OpShape("conv_1x1", size, channels, head),
        OpShape("logits", size, head, num_classes),
    ]


def reference_nets(held_out: bool = False) -> list[ReferenceNet]:
    """The four nets of REFERENCE A4 the model is fitted to; with `held_out`, also
    MobileNetV2 (1.4), whose published latency (MobileNetV2 paper, Table 4) is kept out of the
    fit as a check."""
    nets = [
        ReferenceNet(
            "MobileNetV1 (1.0, 224)",
            tuple(mobilenet_v1_ops()),
            113.0,
            f"{MOBILENETV2_PAPER}; REFERENCE A4",
        ),
        ReferenceNet(
            "MobileNetV2 (1.0, 224)",
            tuple(mobilenet_v2_ops()),
            75.0,
            f"{MOBILENETV2_PAPER}; REFERENCE A4",
        ),
        ReferenceNet(
            "ProxylessNAS-Mobile",
            tuple(architecture_ops(resolve_architecture("proxyless_mobile"))),
            78.0,
            PROXYLESS_PAPER,
        ),
        ReferenceNet(
            "ProxylessNAS-Mobile (1.4)",
            tuple(architecture_ops(resolve_architecture("proxyless_mobile_14"))),
            147.0,
            PROXYLESS_PAPER,
        ),
    ]
    if held_out:
        nets.append(
            ReferenceNet(
                "MobileNetV2 (1.4, 224)",
                tuple(mobilenet_v2_ops(1.4)),
                143.0,
                f"{MOBILENETV2_PAPER} (not in REFERENCE A4)",
                fitted=False,
            )
        )
    return nets
