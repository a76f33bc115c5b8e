"""Search spaces from config: the paper's space exactly, new candidates without code, clear
errors for invalid spaces."""

from __future__ import annotations

import pytest
import torch

from hwnas.search import SuperNet
from hwnas.search_space import SearchSpace


def test_proxyless_imagenet_is_the_papers_space(load_space) -> None:
    space = load_space("proxyless_imagenet", input_size=224, num_classes=1000)
    assert len(space.layers) == 21
    with_zero = [layer for layer in space.layers if any(c.is_zero for c in layer.candidates)]
    assert len(with_zero) == 15
    assert all(layer.position > 1 and layer.stage < 6 for layer in with_zero)
    mbconv = {str(c) for layer in space.layers for c in layer.candidates if not c.is_zero}
    assert mbconv == {"k3e3", "k3e6", "k5e3", "k5e6", "k7e3", "k7e6"}
    assert [space.stem_output_size] + [
        layer.output_size for layer in space.layers if layer.position == 1
    ] == [112, 56, 28, 14, 14, 7, 7]
    assert (space.stem_out, space.first_block_out, space.last_channels, space.head_out) == (
        32,
        16,
        320,
        1280,
    )


def test_proxyless_cifar_keeps_32x32_resolution_early(load_space) -> None:
    space = load_space("proxyless_cifar", input_size=32)
    assert [layer.output_size for layer in space.layers if layer.position == 1] == [
        32,
        16,
        8,
        8,
        4,
        4,
    ]


def test_new_candidates_need_no_code_change(load_space) -> None:
    space = load_space("tiny", input_size=16, kernel_sizes=[3, 9], expand_ratios=[1, 4])
    assert {str(c) for c in space.layers[0].candidates} == {"k3e1", "k3e4", "k9e1", "k9e4"}
    net = SuperNet(space)
    for index in range(4):
        net.set_paths([index] * len(space.layers))
        assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_width_multiplier_rounds_to_multiples_of_8(load_space) -> None:
    space = load_space("proxyless_imagenet", input_size=224, width_mult=1.4)
    assert [layer.out_channels for layer in space.layers if layer.position == 1] == [
        32,
        56,
        112,
        136,
        272,
        448,
    ]
    assert space.head_out == 1792


def _space(**stage) -> SearchSpace:
    stages = [{"channels": 16, "depth": 2, "stride": 2, **stage}]
    return SearchSpace(
        name="bad", stages=stages, stem_channels=8, first_block={"channels": 8}, input_size=16
    )


def test_even_kernel_names_the_layer() -> None:
    with pytest.raises(ValueError, match=r"layer 0 \(stage 1, position 1\).*kernel 4"):
        _space(kernel_sizes=[3, 4])


def test_zero_in_a_stride_2_layer_names_the_layer() -> None:
    with pytest.raises(ValueError, match=r"layer 0 \(stage 1, position 1\): Zero .*stride 2"):
        _space(candidates=["k3e3", "zero"])


def test_zero_where_channels_change_names_the_layer() -> None:
    with pytest.raises(ValueError, match=r"layer 0 .*8 -> 16 channels"):
        _space(stride=1, candidates=["k3e3", "zero"])


def test_no_candidates_names_the_layer() -> None:
    with pytest.raises(ValueError, match=r"layer 0 \(stage 1, position 1\): no candidates"):
        _space(candidates=[])


def test_unknown_candidate_name() -> None:
    with pytest.raises(ValueError, match="unknown candidate 'conv3'"):
        _space(candidates=["conv3"])
