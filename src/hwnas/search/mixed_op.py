"""MixedOp: one searched layer holding every candidate, with binarised paths (REFERENCE A2)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from hwnas.search.gates import ActivePathGate, BinaryGates
from hwnas.search_space.blocks import build_mbconv
from hwnas.search_space.layer_spec import LayerSpec

ArchMode = Literal["full", "two", "full_v2"]
ARCH_MODES: tuple[str, ...] = ("full", "two", "full_v2")


class Zero(nn.Module):
    """Placeholder for the Zero candidate: the layer is skipped (its output is the shortcut)."""

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - never called
        raise RuntimeError("Zero is never run; MixedOp skips it")


def _gather(values: Tensor, indices: list[int]) -> Tensor:
    """`values[indices]` without an index tensor: on a GPU, indexing with a Python list or a
    CPU tensor copies the indices to the device and waits for that copy, which stalls the
    queue of kernels once per layer. Views by integer and one `stack` queue without waiting."""
    if indices == list(range(len(values))):
        return values
    return torch.stack([values[i] for i in indices])


class MixedOp(nn.Module):
    """A searched layer: candidates, architecture parameters alpha, and the active path.

    Outside an architecture step only `active` runs (weight steps sample it from p; evaluation
    sets the argmax), so inactive candidates get no gradient at all. `begin_arch_step` switches
    to one of the three estimator modes of the original code:

    - `full`: every candidate runs (inactive ones under no_grad), y = sum_j g_j o_j(x).
    - `two`: two candidates drawn by p, the active one drawn from the pair; only their alphas
      get gradient, and `end_arch_step` rescales them so other probabilities stay put.
    - `full_v2`: only the active candidate runs forward; backward re-runs the others.
    """

    def __init__(self, spec: LayerSpec, bn_eps: float = 1e-3, alpha_init_std: float = 0.0) -> None:
        super().__init__()
        self.spec = spec
        self.candidates = nn.ModuleList(
            Zero()
            if cand.is_zero
            else build_mbconv(cand, spec.in_channels, spec.out_channels, spec.stride, bn_eps)
            for cand in spec.candidates
        )
        self.alpha = nn.Parameter(torch.randn(len(spec.candidates)) * alpha_init_std)
        self.active = 0
        self.mode: ArchMode | None = None
        self._involved: list[int] = []
        self._pair_alpha: Tensor | None = None

    def probs(self) -> Tensor:
        return torch.softmax(self.alpha, dim=0)

    def probs_for_cost(self) -> Tensor:
        """Probabilities for the expected-cost term. In `two` mode the pair's entries are
        (p_a + p_b).detach() x softmax(alpha_a, alpha_b), as in the original code: the values
        are p itself (E[C] stays the full expectation), and the gradient moves probability
        within the pair toward its cheaper op, dE/dalpha_a = (p_a + p_b) s_a s_b (c_a - c_b).
        (Through the full softmax with the other alphas detached, a pair of ops both dearer
        than E[C] could shift toward the dearer one.)"""
        if self.mode != "two":
            return self.probs()
        p = self.probs().detach()
        within = torch.softmax(_gather(self.alpha, self._involved), dim=0)
        within = within * _gather(p, self._involved).sum()
        out = p.clone()
        for k, index in enumerate(self._involved):
            out[index] = within[k]
        return out

    def begin_arch_step(self, mode: ArchMode, probs: Tensor, generator: torch.Generator) -> None:
        """Draw the paths of an architecture step from `probs` (a CPU copy of p)."""
        if mode not in ARCH_MODES:
            raise ValueError(f"unknown arch_update.mode {mode!r}; choose one of {ARCH_MODES}")
        self.mode = mode
        if mode == "two" and len(probs) > 1:
            pair = torch.multinomial(probs, 2, replacement=False, generator=generator)
            pick = torch.multinomial(probs[pair], 1, generator=generator)
            self._involved = pair.tolist()
            self.active = int(pair[pick])
            self._pair_alpha = _gather(self.alpha.detach(), self._involved).clone()
        else:
            self.active = int(torch.multinomial(probs, 1, generator=generator))
            self._involved = list(range(len(probs)))
            self._pair_alpha = None

    @torch.no_grad()
    def end_arch_step(self) -> None:
        """After the optimiser step: in `two` mode subtract log(sum_pair e^new / sum_pair e^old)
        from the pair's alphas, which leaves every other probability exactly as it was."""
        if self.mode == "two" and self._pair_alpha is not None:
            new = _gather(self.alpha, self._involved)
            shift = torch.logsumexp(new, 0) - torch.logsumexp(self._pair_alpha, 0)
            for index in self._involved:
                self.alpha[index] -= shift
        self.mode, self._pair_alpha = None, None

    def active_is_zero(self) -> bool:
        return isinstance(self.candidates[self.active], Zero)

    def _op(self, index: int) -> nn.Module | None:
        """The candidate module, or None for Zero."""
        op = self.candidates[index]
        return None if isinstance(op, Zero) else op

    def _run(self, index: int, x: Tensor) -> Tensor | None:
        op = self._op(index)
        return None if op is None else op(x)

    def forward(self, x: Tensor) -> Tensor:
        if self.mode is None:
            out = self._run(self.active, x)
        elif self.mode == "full_v2":
            out = self._forward_active_path_gate(x)
        else:
            out = self._forward_binary_gates(x)
        if out is None:
            return x
        return out + x if self.spec.shortcut else out

    def _forward_binary_gates(self, x: Tensor) -> Tensor:
        """`full` / `two`: y = sum_j g_j o_j(x) over the involved candidates; inactive outputs
        are computed under no_grad (no weight gradient) but still give their gate a gradient."""
        involved = self._involved
        gates = BinaryGates.apply(_gather(self.alpha, involved), involved.index(self.active))
        out: Tensor | None = None
        for pos, index in enumerate(involved):
            with torch.set_grad_enabled(torch.is_grad_enabled() and index == self.active):
                o = self._run(index, x)
            if o is not None:  # Zero contributes o = 0, hence no term and dL/dg = 0
                term = gates[pos] * o
                out = term if out is None else out + term
        return out

    def _forward_active_path_gate(self, x: Tensor) -> Tensor:
        """`full_v2`: the active candidate only; ActivePathGate re-runs the others in backward."""
        out = self._run(self.active, x)
        if out is None:  # Zero active: o_a = 0, shaped like the layer's output
            out = torch.zeros_like(x)
        ops = [self._op(i) for i in range(len(self.candidates))]
        return ActivePathGate.apply(out, self.alpha, x.detach(), ops, self.active)
