"""Shape-level description of one searched layer, shared by the supernet, the cost models and
the exported architecture."""

from __future__ import annotations

from dataclasses import dataclass

from hwnas.search_space.candidates import Candidate


@dataclass(frozen=True)
class LayerSpec:
    """A searched layer: where it sits, its shapes and its candidates.

    Attributes:
        index: position among the searched layers (0-based).
        stage: 1-based index of its stage (stage 0 is the fixed first block).
        position: 1-based position inside the stage.
        in_channels / out_channels / stride: as in the paper's table A1.
        input_size: spatial size (height = width) of the layer's input feature map.
        candidates: the candidate ops, Zero included where allowed.
    """

    index: int
    stage: int
    position: int
    in_channels: int
    out_channels: int
    stride: int
    input_size: int
    candidates: tuple[Candidate, ...]

    @property
    def shortcut(self) -> bool:
        """Identity shortcut (residual add) where stride is 1 and channels are unchanged."""
        return self.stride == 1 and self.in_channels == self.out_channels

    @property
    def output_size(self) -> int:
        return conv_output_size(self.input_size, self.stride)

    @property
    def label(self) -> str:
        return f"layer {self.index} (stage {self.stage}, position {self.position})"

    def validate(self) -> None:
        """Raise ValueError naming this layer if its candidates cannot be built here."""
        if not self.candidates:
            raise ValueError(f"{self.label}: no candidates")
        if len(set(self.candidates)) != len(self.candidates):
            raise ValueError(
                f"{self.label}: duplicate candidates {[str(c) for c in self.candidates]}"
            )
        for cand in self.candidates:
            if cand.is_zero and not self.shortcut:
                raise ValueError(
                    f"{self.label}: Zero is only allowed where stride is 1 and channels are "
                    f"unchanged (here stride {self.stride}, {self.in_channels} -> "
                    f"{self.out_channels} channels)"
                )
            if not cand.is_zero and (cand.kernel < 1 or cand.kernel % 2 == 0):
                raise ValueError(f"{self.label}: kernel {cand.kernel} of {cand} must be odd")
            if not cand.is_zero and cand.expand < 1:
                raise ValueError(f"{self.label}: expand ratio {cand.expand} of {cand} is below 1")
        if all(c.is_zero for c in self.candidates):
            raise ValueError(f"{self.label}: Zero cannot be the only candidate")


def conv_output_size(size: int, stride: int) -> int:
    """Spatial size after a 'same'-padded odd-kernel conv with this stride."""
    return (size - 1) // stride + 1
