"""The searched net drawn like the talk's slide of the specialised models: one box per layer
from the stem to the head, its height from the expand ratio, its colour from the kernel size,
removed (Zero) layers as dashed gaps, and the output shape of every stage above it."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from hwnas.architecture.arch_file import Architecture, Block
from hwnas.pictures.colours import FIXED_COLOUR, KERNEL_COLOURS, kernel_colour
from hwnas.search_space.layer_spec import conv_output_size

BOX_WIDTH, STEP = 0.8, 1.0


@dataclass
class _Box:
    label: str
    height: float
    colour: str | None  # None: a removed layer, drawn as a dashed outline
    stage: int | None = None  # searched stage (1...), None for the fixed parts
    shape: str = ""  # the output shape, e.g. "40x16x16"


def expand_height(expand: float) -> float:
    """Box height of an MBConv of expand ratio `expand` (MB1 -> 1, MB3 -> 2, MB6 -> 3.5)."""
    return 0.5 + 0.5 * expand


def _block_box(block: Block, size: int, stage: int | None) -> _Box:
    if block.removed:
        return _Box("skip", 1.0, None, stage, f"{block.channels}x{size}x{size}")
    expand = int(block.expand) if float(block.expand).is_integer() else block.expand
    return _Box(
        f"MB{expand} {block.kernel}x{block.kernel}",
        expand_height(block.expand),
        kernel_colour(block.kernel),
        stage,
        f"{block.channels}x{size}x{size}",
    )


def architecture_boxes(arch: Architecture) -> list[_Box]:
    """The boxes from left to right: stem, first block, every searched layer (removed ones
    kept as gaps), the head's 1x1 conv and the pooling + classifier."""
    stem_kernel, stem_stride = int(arch.stem.get("kernel", 3)), int(arch.stem.get("stride", 2))
    size = conv_output_size(arch.input_size, stem_stride)
    stem_channels = int(arch.stem["channels"])
    boxes = [
        _Box(
            f"Conv {stem_kernel}x{stem_kernel}",
            1.0,
            FIXED_COLOUR,
            None,
            f"{stem_channels}x{size}x{size}",
        )
    ]
    size = conv_output_size(size, arch.first_block.stride)
    boxes.append(_block_box(arch.first_block, size, None))
    for block in arch.layers:
        if not block.removed:
            size = conv_output_size(size, block.stride)
        boxes.append(_block_box(block, size, block.stage))
    head = int(arch.head["channels"])
    boxes.append(_Box("Conv 1x1", 1.0, FIXED_COLOUR, None, f"{head}x{size}x{size}"))
    boxes.append(_Box("Pool FC", 1.0, FIXED_COLOUR, None, f"{arch.num_classes}"))
    return boxes


def draw_architecture(arch: Architecture, subtitle: str = "") -> Figure:
    """The figure of `arch`; `subtitle` (e.g. its latency and accuracy) goes under the name."""
    boxes = architecture_boxes(arch)
    top = max(b.height for b in boxes)
    fig = Figure(figsize=(max(6.0, 0.42 * len(boxes) + 1.5), 3.6))
    ax = fig.add_subplot()
    for i, box in enumerate(boxes):
        x, y = i * STEP, (top - box.height) / 2
        if box.colour is None:
            ax.add_patch(
                Rectangle(
                    (x, y),
                    BOX_WIDTH,
                    box.height,
                    fill=False,
                    linestyle="--",
                    edgecolor="#9e9e9e",
                    linewidth=0.8,
                )
            )
        else:
            ax.add_patch(
                Rectangle(
                    (x, y),
                    BOX_WIDTH,
                    box.height,
                    facecolor=box.colour,
                    edgecolor="black",
                    linewidth=0.6,
                )
            )
        ax.text(
            x + BOX_WIDTH / 2,
            top / 2,
            box.label,
            rotation=90,
            ha="center",
            va="center",
            fontsize=7,
            color="#616161" if box.colour is None else "black",
        )
    _stage_labels(ax, boxes, top)
    ax.text(
        -0.3,
        top / 2,
        f"{arch.in_channels}x{arch.input_size}x{arch.input_size}",
        rotation=90,
        ha="right",
        va="center",
        fontsize=7,
    )
    ax.set_xlim(-0.9, len(boxes) * STEP)
    ax.set_ylim(-0.2, top + 1.1)
    ax.axis("off")
    kernels = sorted({b.kernel for b in [arch.first_block, *arch.layers] if not b.removed})
    legend = [
        Patch(
            facecolor=KERNEL_COLOURS.get(k, kernel_colour(k)), edgecolor="black", label=f"{k}x{k}"
        )
        for k in kernels
    ]
    legend += [
        Patch(facecolor="white", edgecolor="#9e9e9e", linestyle="--", label="removed"),
        Patch(facecolor=FIXED_COLOUR, edgecolor="black", label="fixed"),
    ]
    ax.legend(
        handles=legend,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=len(legend),
        fontsize=7,
        frameon=False,
        title="kernel (box height: expand ratio)",
        title_fontsize=7,
    )
    title = arch.name + (f"\n{subtitle}" if subtitle else "")
    ax.set_title(title, fontsize=9)
    return fig


def _stage_labels(ax: Axes, boxes: list[_Box], top: float) -> None:
    """A bracket over every searched stage with the stage's output shape."""
    stages: dict[int, list[int]] = {}
    for i, box in enumerate(boxes):
        if box.stage is not None:
            stages.setdefault(box.stage, []).append(i)
    for stage, where in stages.items():
        start, end = where[0] * STEP, where[-1] * STEP + BOX_WIDTH
        y = top + 0.25
        ax.plot([start, start, end, end], [y - 0.1, y, y, y - 0.1], color="black", linewidth=0.6)
        shape = boxes[where[-1]].shape  # a removed layer keeps its input's shape
        ax.text(
            (start + end) / 2,
            y + 0.1,
            f"stage {stage}\n{shape}",
            ha="center",
            va="bottom",
            fontsize=6.5,
        )
