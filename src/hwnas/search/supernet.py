"""The supernet: stem, fixed first block, one MixedOp per searched layer, head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hwnas.search.mixed_op import ArchMode, MixedOp
from hwnas.search_space.blocks import build_head_conv, build_mbconv, build_stem, init_weights
from hwnas.search_space.candidates import Candidate
from hwnas.search_space.depthwise import use_small_map_depthwise
from hwnas.search_space.space import SearchSpace


class SuperNet(nn.Module):
    """Every candidate of every layer of `space`; one path is active at a time.

    Module names follow timm's EfficientNet (`conv_stem`, `bn1`, `conv_head`, `bn2`,
    `classifier`), so weights of a derived network map onto the timm model by name.
    """

    def __init__(self, space: SearchSpace, alpha_init_std: float = 0.0) -> None:
        super().__init__()
        self.space = space
        eps = space.bn_eps
        self.conv_stem, self.bn1 = build_stem(
            space.in_channels, space.stem_out, space.stem_kernel, space.stem_stride, eps
        )
        fb = space.first_block
        self.first_block = build_mbconv(
            Candidate(fb.kernel, fb.expand), space.stem_out, space.first_block_out, fb.stride, eps
        )
        self.first_block_shortcut = fb.stride == 1 and space.stem_out == space.first_block_out
        self.blocks = nn.ModuleList(MixedOp(layer, eps, alpha_init_std) for layer in space.layers)
        self.conv_head, self.bn2 = build_head_conv(space.last_channels, space.head_out, eps)
        self.global_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.dropout = nn.Dropout(space.dropout)
        self.classifier = nn.Linear(space.head_out, space.num_classes)
        init_weights(self)
        use_small_map_depthwise(self)  # fast weight gradients on the small maps of a CPU search
        self._probs_cache: list[Tensor] | None = None
        self.register_load_state_dict_post_hook(lambda module, _keys: module.invalidate_probs())

    def forward(self, x: Tensor) -> Tensor:
        x = self._stem(x)
        for block in self.blocks:
            x = block(x)
        return self._head(x)

    def forward_paths(self, x: Tensor, paths: list[list[int]]) -> list[Tensor]:
        """The logits of each of `paths` on the batch `x`, as `set_paths(path)` then
        `forward(x)` gives them, computing what paths share once: the stem, and every layer
        whose path so far is the same (a depth-first walk of the paths' prefix tree, so one
        activation per layer is held at a time). The last path stays active."""
        for path in paths:
            self.set_paths(path)  # checks every path before anything runs
        logits: list[Tensor | None] = [None] * len(paths)

        def descend(layer: int, h: Tensor, members: list[int]) -> None:
            if layer == len(self.blocks):
                out = self._head(h)
                for m in members:
                    logits[m] = out
                return
            branches: dict[int, list[int]] = {}
            for m in members:
                branches.setdefault(paths[m][layer], []).append(m)
            block = self.blocks[layer]
            for choice, branch in branches.items():
                block.active = choice
                descend(layer + 1, block(h), branch)

        descend(0, self._stem(x), list(range(len(paths))))
        self.set_paths(paths[-1])
        return logits  # type: ignore[return-value]

    def _stem(self, x: Tensor) -> Tensor:
        x = self.bn1(self.conv_stem(x))
        y = self.first_block(x)
        return y + x if self.first_block_shortcut else y

    def _head(self, x: Tensor) -> Tensor:
        x = self.bn2(self.conv_head(x))
        return self.classifier(self.dropout(self.global_pool(x)))

    # --- architecture parameters -------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [block.alpha for block in self.blocks]

    def weight_parameters(self) -> list[nn.Parameter]:
        alphas = {id(a) for a in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in alphas]

    def probs(self) -> list[Tensor]:
        return [block.probs() for block in self.blocks]

    def probs_for_cost(self) -> list[Tensor]:
        return [block.probs_for_cost() for block in self.blocks]

    def cpu_probs(self) -> list[Tensor]:
        """p of every layer on the CPU, cached until `invalidate_probs()`, so that sampling a
        path costs no device synchronisation between architecture steps. (A tensor's
        `_version` does not tell: a fused or foreach optimiser step, an all-reduce or a
        `.data` assignment changes the alphas without bumping it.)"""
        if self._probs_cache is None:
            flat = torch.cat([a.detach() for a in self.arch_parameters()]).float().cpu()
            sizes = [len(a) for a in self.arch_parameters()]
            self._probs_cache = [torch.softmax(chunk, 0) for chunk in flat.split(sizes)]
        return self._probs_cache

    def invalidate_probs(self) -> None:
        """Forget the cached p: call after anything changes the alphas (an architecture step,
        loading a state)."""
        self._probs_cache = None

    def entropy(self) -> Tensor:
        """Mean entropy of the layers' distributions (nats)."""
        ent = [-(p * torch.log(p.clamp_min(1e-12))).sum() for p in self.probs()]
        return torch.stack(ent).mean()

    # --- paths -------------------------------------------------------------------------
    def sample_paths(self, generator: torch.Generator) -> list[int]:
        """Weight step: draw one candidate per layer from p (same generator state on every
        rank gives the same path everywhere)."""
        indices = [int(torch.multinomial(p, 1, generator=generator)) for p in self.cpu_probs()]
        self.set_paths(indices)
        return indices

    def set_paths(self, indices: list[int]) -> None:
        if len(indices) != len(self.blocks):
            raise ValueError(f"expected {len(self.blocks)} path indices, got {len(indices)}")
        for block, index in zip(self.blocks, indices, strict=True):
            if not 0 <= index < len(block.candidates):
                raise ValueError(f"{block.spec.label}: path index {index} out of range")
            block.active = index

    def argmax_paths(self) -> list[int]:
        """Derive: the most probable candidate of every layer (deterministic; ties go to the
        first candidate)."""
        return [int(torch.argmax(p)) for p in self.cpu_probs()]

    def begin_arch_step(self, mode: ArchMode, generator: torch.Generator) -> None:
        for block, probs in zip(self.blocks, self.cpu_probs(), strict=True):
            block.begin_arch_step(mode, probs, generator)

    def end_arch_step(self) -> None:
        for block in self.blocks:
            block.end_arch_step()
