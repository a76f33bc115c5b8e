"""The pictures' geometry and the Pareto front, checked on published nets and small cases."""

from __future__ import annotations

import numpy as np
import pytest

from hwnas.architecture.timm_model import resolve_architecture
from hwnas.pictures import draw_layer_costs, draw_prob_history, save_figure
from hwnas.pictures.architecture import architecture_boxes, draw_architecture, expand_height
from hwnas.pictures.colours import kernel_colour
from hwnas.pictures.hardware_matrix import column_best
from hwnas.pictures.pareto import Point, pareto_front


def test_boxes_follow_the_layers_of_proxyless_mobile() -> None:
    arch = resolve_architecture("proxyless_mobile")
    boxes = architecture_boxes(arch)
    assert len(boxes) == len(arch.layers) + 4  # stem, first block, layers, 1x1 conv, pool FC
    assert [b.label for b in boxes[:2]] == ["Conv 3x3", "MB1 3x3"]
    for box, block in zip(boxes[2:-2], arch.layers, strict=True):
        if block.removed:
            assert box.colour is None and box.label == "skip"
        else:
            assert box.label == f"MB{int(block.expand)} {block.kernel}x{block.kernel}"
            assert box.height == expand_height(block.expand)
            assert box.colour == kernel_colour(block.kernel)
    # the talk's slide: 32x56x56 after stage 1, 320x7x7 at the end of stage 6
    assert boxes[2 + 3].shape == "32x56x56"
    assert boxes[-3].shape == "320x7x7"
    assert expand_height(6) > expand_height(3) > expand_height(1)


def test_pareto_front_keeps_exactly_the_undominated_points() -> None:
    points = [
        Point("a", 1.0, 0.90),
        Point("b", 2.0, 0.95),
        Point("c", 2.5, 0.93),
        Point("d", 3.0, 0.97),
        Point("e", 1.5, 0.89),
        Point("ref", 0.5, None),
        Point("b2", 2.0, 0.95),
    ]
    front = pareto_front(points)
    assert [points[i].label for i in front] == ["a", "b", "b2", "d"]


def test_column_best_compares_nets_of_the_same_input_only() -> None:
    grid = np.array([[1.0, 5.0], [2.0, np.nan], [80.0, 300.0], [100.0, 200.0]])
    best = column_best(grid, ["28", "28", "224", "224"])
    assert best[:, 0].tolist() == [1.0, 1.0, 80.0, 80.0]
    assert best[:, 1].tolist() == [5.0, 5.0, 200.0, 200.0]


def test_pictures_refuse_data_that_does_not_fit(tiny_space) -> None:
    arch = resolve_architecture("tiny")
    with pytest.raises(ValueError, match="layer costs"):
        draw_layer_costs(arch, [1.0], 0.5, "ms")
    with pytest.raises(ValueError, match="do not match"):
        draw_prob_history([{"epoch": 0, "probs": [[1.0]]}], [["a"], ["b"]])
    with pytest.raises(ValueError, match="no probabilities"):
        draw_prob_history([], [["a"]])


def test_save_figure_writes_every_format(tmp_path) -> None:
    arch = resolve_architecture("tiny")
    written = save_figure(draw_architecture(arch, "a subtitle"), tmp_path / "arch", ("png", "svg"))
    assert [p.name for p in written] == ["arch.png", "arch.svg"]
    assert written[0].read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in written[1].read_text()[:2000]
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind
