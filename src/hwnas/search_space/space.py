"""A ProxylessNAS search space (REFERENCE A1) read from config: a stem, a fixed first block,
stages of searched layers, a head. Everything about the space is data; the data set supplies
input channels, input size and classes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from timm.layers import make_divisible

from hwnas.search_space.candidates import ZERO, Candidate
from hwnas.search_space.layer_spec import LayerSpec, conv_output_size


@dataclass(frozen=True)
class StageSpec:
    """One stage: `depth` layers of width `channels`; `stride` applies to its first layer.
    Optional per-stage overrides of the space-wide candidate settings; an explicit
    `candidates` list (names such as `k3e6` or `zero`) is used verbatim for every layer."""

    channels: int
    depth: int
    stride: int
    kernel_sizes: Sequence[int] | None = None
    expand_ratios: Sequence[float] | None = None
    allow_zero: bool | None = None
    candidates: Sequence[str] | None = None


@dataclass(frozen=True)
class FixedBlock:
    """The fixed block between stem and searched stages (MBConv expand 1 in the paper)."""

    channels: int = 16
    kernel: int = 3
    expand: float = 1
    stride: int = 1


@dataclass
class SearchSpace:
    """A search space bound to a data set's input shape and classes.

    Args:
        name: the space's name (the config file's name).
        stem_channels / stem_stride / stem_kernel: the first conv.
        first_block: the fixed block after the stem.
        stages: the searched stages.
        kernel_sizes / expand_ratios / allow_zero: candidates of every searched layer, unless a
            stage overrides them; Zero is added only where it is legal (stride 1, in == out).
        head_channels: width of the 1x1 conv before pooling.
        width_mult: multiplies every width, rounded to multiples of 8 (the head only grows).
        dropout: before the classifier.
        bn_eps: BatchNorm epsilon (1e-3 as in the original code, REFERENCE A1).
        in_channels / input_size / num_classes: from the data set.
    """

    name: str
    stages: Sequence[StageSpec | dict[str, Any]]
    first_block: FixedBlock | dict[str, Any] = field(default_factory=FixedBlock)
    stem_channels: int = 32
    stem_stride: int = 2
    stem_kernel: int = 3
    kernel_sizes: Sequence[int] = (3, 5, 7)
    expand_ratios: Sequence[float] = (3, 6)
    allow_zero: bool = True
    head_channels: int = 1280
    width_mult: float = 1.0
    dropout: float = 0.0
    bn_eps: float = 1e-3
    in_channels: int = 3
    input_size: int = 224
    num_classes: int = 1000
    layers: list[LayerSpec] = field(init=False)

    def __post_init__(self) -> None:
        self.stages = [s if isinstance(s, StageSpec) else StageSpec(**s) for s in self.stages]
        if not isinstance(self.first_block, FixedBlock):
            self.first_block = FixedBlock(**self.first_block)
        if not self.stages:
            raise ValueError(f"search space {self.name!r} has no stages")
        if self.stem_kernel % 2 == 0 or self.first_block.kernel % 2 == 0:
            raise ValueError(
                f"search space {self.name!r}: stem and first-block kernels must be odd"
            )
        self.layers = self._build_layers()
        for layer in self.layers:
            layer.validate()

    def scaled(self, channels: int) -> int:
        return int(make_divisible(channels * self.width_mult, 8))

    @property
    def stem_out(self) -> int:
        return self.scaled(self.stem_channels)

    @property
    def first_block_out(self) -> int:
        return self.scaled(self.first_block.channels)

    @property
    def stem_output_size(self) -> int:
        return conv_output_size(self.input_size, self.stem_stride)

    @property
    def first_block_output_size(self) -> int:
        return conv_output_size(self.stem_output_size, self.first_block.stride)

    @property
    def last_channels(self) -> int:
        """Output channels of the last searched layer (input of the head)."""
        return self.layers[-1].out_channels

    @property
    def head_out(self) -> int:
        if self.width_mult > 1.0:
            return self.scaled(self.head_channels)
        return self.head_channels

    @property
    def head_input_size(self) -> int:
        return self.layers[-1].output_size

    def _candidates_for(
        self, stage: StageSpec, stride: int, cin: int, cout: int
    ) -> list[Candidate]:
        if stage.candidates is not None:
            return [Candidate.parse(str(name)) for name in stage.candidates]
        kernels = stage.kernel_sizes if stage.kernel_sizes is not None else self.kernel_sizes
        expands = stage.expand_ratios if stage.expand_ratios is not None else self.expand_ratios
        cands = [Candidate(kernel=int(k), expand=float(e)) for k in kernels for e in expands]
        allow_zero = self.allow_zero if stage.allow_zero is None else stage.allow_zero
        if allow_zero and stride == 1 and cin == cout:
            cands.append(ZERO)
        return cands

    def _build_layers(self) -> list[LayerSpec]:
        layers: list[LayerSpec] = []
        channels, size = self.first_block_out, self.first_block_output_size
        for stage_idx, stage in enumerate(self.stages, start=1):
            if stage.depth < 1:
                raise ValueError(f"search space {self.name!r}: stage {stage_idx} has depth 0")
            out = self.scaled(stage.channels)
            for pos in range(1, stage.depth + 1):
                stride = stage.stride if pos == 1 else 1
                layers.append(
                    LayerSpec(
                        index=len(layers),
                        stage=stage_idx,
                        position=pos,
                        in_channels=channels,
                        out_channels=out,
                        stride=stride,
                        input_size=size,
                        candidates=tuple(self._candidates_for(stage, stride, channels, out)),
                    )
                )
                channels, size = out, conv_output_size(size, stride)
        return layers

    @property
    def num_candidates(self) -> list[int]:
        return [len(layer.candidates) for layer in self.layers]

    def describe(self) -> str:
        """One line per stage, for logs and summaries."""
        lines = [f"{self.name}: input {self.in_channels}x{self.input_size}x{self.input_size}"]
        for layer in self.layers:
            names = " ".join(str(c) for c in layer.candidates)
            lines.append(
                f"  {layer.label}: {layer.in_channels}->{layer.out_channels} s{layer.stride} [{names}]"
            )
        return "\n".join(lines)
