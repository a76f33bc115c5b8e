"""Search steps queue their GPU work without waiting for it. On a GPU, indexing a tensor with a
Python list or a CPU index tensor, or building a tensor from host numbers, copies the numbers to
the device and waits for that copy, which drains the queue of kernels. A `two` architecture
step did that about five times per layer, and cost 8 weight steps on an H200
(benchmarks/README.md, throughput; how much of that the waits were is still to be measured).

Here the network lives on the `meta` device, which stands for the GPU: any operation that
takes host data (a CPU tensor of one or more elements) together with the network's tensors, or
turns host data into a device tensor, is such a copy. Path sampling stays on the CPU by design
(CPU probabilities, copied once per architecture step). On a GPU (`-m gpu`) CUDA's own check
raises at any synchronising call."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from hwnas.cost.flops import FlopsCostModel
from hwnas.cost.model import ExpectedCost
from hwnas.search import SuperNet
from hwnas.search.arch_step import architecture_step

INDEXED = ("aten.index.", "aten.index_put", "aten._index_put_impl_", "aten.index_copy")


class HostCopies(TorchDispatchMode):
    """Names the operations that bring host data to the device, and indexing of device tensors
    by index tensors (a list index is copied to the device below this mode's reach; in these
    steps every index comes from the host)."""

    def __init__(self, device: str) -> None:
        super().__init__()
        self.device, self.found = device, set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        tensors = [t for t in tree_leaves((args, kwargs or {})) if isinstance(t, torch.Tensor)]
        host = any(t.device.type == "cpu" and t.dim() > 0 for t in tensors)  # 0-d: a scalar
        on_device = any(t.device.type == self.device for t in tensors)
        out = func(*args, **(kwargs or {}))
        made = any(
            isinstance(t, torch.Tensor) and t.device.type == self.device for t in tree_leaves(out)
        )
        if (host and (on_device or made)) or (on_device and str(func).startswith(INDEXED)):
            self.found.add(str(func))
        return out


def _search_steps(net: SuperNet, space, device: str, mode: str, check=None) -> None:
    """Weight steps with one architecture step in `mode` after each, as SearchModule runs them
    (the CPU copy of p is taken after each architecture step, outside `check`)."""
    weights = torch.optim.SGD(net.weight_parameters(), lr=0.01, momentum=0.9)
    alphas = torch.optim.Adam(net.arch_parameters(), lr=0.01)
    cost = ExpectedCost(FlopsCostModel("MACs"), space)
    x = torch.randn(4, 3, 16, 16, device=device)
    y = torch.randint(0, 4, (4,), device=device)
    generator = torch.Generator().manual_seed(0)
    for step in range(3):  # the first round copies the cost vectors to the device, once
        net.cpu_probs()
        with check() if check and step else contextlib.nullcontext():
            net.sample_paths(generator)
            loss = torch.nn.functional.cross_entropy(net(x), y)
            weights.zero_grad(set_to_none=True)
            loss.backward()
            weights.step()
            architecture_step(net, x, y, mode, generator, cost, lambda ce, c: ce + 1e-3 * c, alphas)


@pytest.mark.parametrize("mode", ["two", "full", "full_v2"])
def test_search_steps_bring_no_host_data_to_the_device(tiny_space, mode: str) -> None:
    net = SuperNet(tiny_space).to("meta")
    uniform = [torch.full((len(a),), 1 / len(a)) for a in net.arch_parameters()]
    net.cpu_probs = lambda: uniform  # meta tensors hold no numbers to copy back
    log = HostCopies("meta")
    _search_steps(net, tiny_space, "meta", mode, check=lambda: log)
    assert not log.found, f"host data copied to the device by {sorted(log.found)}"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", ["two", "full", "full_v2"])
def test_search_steps_never_wait_for_the_gpu(tiny_space, mode: str) -> None:
    net = SuperNet(tiny_space).to("cuda")

    class NoSync:
        def __enter__(self) -> None:
            torch.cuda.set_sync_debug_mode("error")

        def __exit__(self, *exc) -> None:
            torch.cuda.set_sync_debug_mode("default")

    _search_steps(net, tiny_space, "cuda", mode, check=NoSync)
