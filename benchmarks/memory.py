"""Memory of one ProxylessNAS architecture step in each mode (`full`, `two`, `full_v2`, REFERENCE
A2), of one weight step, and of training the largest single child alone, as the number of
candidates per layer grows (6, 12, 18) while the largest child stays k7e6 everywhere.

Every measurement forces the active path of every layer to k7e6, so the modes differ only in
what they keep besides that path. On CPU it counts the bytes of tensors saved for backward
(deduplicated by storage, parameters excluded); on CUDA also the step's peak allocation above
the resident parameters (torch.cuda.max_memory_allocated).

    python benchmarks/memory.py                      # CPU, proxyless_cifar, batch 64, 32x32
    python benchmarks/memory.py --device cuda --amp bf16 --channels-last
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F
from common import (
    add_device_options,
    add_space_options,
    autocast,
    load_space,
    machine_line,
    markdown_table,
    setup_device,
    sync,
    synthetic_batches,
    to_device,
)
from torch import Tensor

from hwnas.search.supernet import SuperNet

# Candidate lists whose largest member is k7e6 at every size (allow_zero=False keeps N exact).
KERNELS = [3, 5, 7]
EXPANDS = {6: [3, 6], 12: [2, 3, 4, 6], 18: [1, 2, 3, 4, 5, 6]}
MEASUREMENTS = ("single child", "weight step", "arch full", "arch two", "arch full_v2")
MIB = 2**20

Step = tuple[Callable[[], Tensor], Callable[[], None]]  # (forward -> loss, finish after backward)


def largest_indices(net: SuperNet) -> list[int]:
    """Per layer, the index of the candidate with the largest (kernel, expand): k7e6."""
    sizes = [[(c.kernel, c.expand) for c in b.spec.candidates] for b in net.blocks]
    return [s.index(max(s)) for s in sizes]


def force_arch_paths(net: SuperNet, mode: str, largest: list[int]) -> None:
    """After `begin_arch_step`: make k7e6 active everywhere; in `two` pair it with index 0
    (or 1 when k7e6 is index 0)."""
    for block, big in zip(net.blocks, largest, strict=True):
        block.active = big
        if mode == "two":
            block._involved = [big, 0 if big != 0 else 1]
            block._pair_alpha = block.alpha.detach()[block._involved].clone()


def make_steps(
    net: SuperNet, batch: tuple[Tensor, Tensor], args: argparse.Namespace, device: torch.device
) -> dict[str, Step]:
    """Forward and finish functions of every measurement on `net`."""
    x, y = batch
    largest = largest_indices(net)
    gen = torch.Generator().manual_seed(0)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, nesterov=True)

    def loss(smoothing: float = 0.0) -> Tensor:
        with autocast(device, args.amp):
            return F.cross_entropy(net(x), y, label_smoothing=smoothing)

    def plain() -> Tensor:
        net.set_paths(largest)
        return loss()

    def weight() -> Tensor:
        net.set_paths(largest)  # a weight step samples its path; here it is forced to k7e6
        return loss(0.1)

    def arch(mode: str) -> Callable[[], Tensor]:
        def forward() -> Tensor:
            net.begin_arch_step(mode, gen)
            force_arch_paths(net, mode, largest)
            for p in net.weight_parameters():  # as SearchModule's step: gradient to alphas only
                p.requires_grad_(False)
            return loss()

        return forward

    def end_arch() -> None:
        net.end_arch_step()
        for p in net.weight_parameters():
            p.requires_grad_(True)

    steps: dict[str, Step] = {
        "single child": (plain, lambda: None),
        "weight step": (weight, w_opt.step),
    }
    for mode in ("full", "two", "full_v2"):
        steps[f"arch {mode}"] = (arch(mode), end_arch)
    return steps


def measure(net: SuperNet, step: Step, device: torch.device) -> tuple[int, int | None]:
    """Saved-for-backward bytes of the forward, and on CUDA the peak allocation of the whole
    step above what was allocated before it."""
    param_ptrs = {p.untyped_storage().data_ptr() for p in net.parameters()}
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in param_ptrs:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    forward, finish = step
    net.zero_grad(set_to_none=True)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = forward()
    loss.backward()
    finish()
    sync(device)
    peak = torch.cuda.max_memory_allocated(device) - base if device.type == "cuda" else None
    return sum(storages.values()), peak


def measure_n(n: int, args: argparse.Namespace, device: torch.device) -> dict[str, tuple]:
    """All measurements for N candidates per layer."""
    space = load_space(
        args.space,
        kernel_sizes=KERNELS,
        expand_ratios=EXPANDS[n],
        allow_zero=False,
        input_size=args.input_size,
        num_classes=args.classes,
    )
    assert all(c == n for c in space.num_candidates), space.num_candidates
    torch.manual_seed(0)
    net = SuperNet(space)
    to_device(net, device, args.channels_last)
    batch = synthetic_batches(
        1, args.batch, args.input_size, args.classes, device, args.channels_last
    )[0]
    steps = make_steps(net, batch, args, device)
    if device.type == "cuda":  # cuDNN plans, optimiser state, allocator pools
        for step in steps.values():
            measure(net, step, device)
    results = {name: measure(net, step, device) for name, step in steps.items()}
    del net, steps
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return results


def ratio(results: dict[str, tuple], name: str, col: int) -> float:
    return results[name][col] / results["single child"][col]


def report(all_results: dict[int, dict[str, tuple]], cuda: bool) -> str:
    """The table and the pass/fail lines of the targets."""
    header = ["N", "measurement", "saved activations MiB", "x child"]
    if cuda:
        header += ["peak above params MiB", "x child (peak)"]
    rows = []
    for n, res in all_results.items():
        for name in MEASUREMENTS:
            row = [str(n), name, f"{res[name][0] / MIB:.1f}", f"{ratio(res, name, 0):.2f}"]
            if cuda:
                row += [f"{res[name][1] / MIB:.1f}", f"{ratio(res, name, 1):.2f}"]
            rows.append(row)
    col = 1 if cuda else 0
    what = "peak allocation" if cuda else "saved activations"
    lines = [markdown_table(header, rows), "", f"Targets (on {what}):"]
    for mode in ("two", "full_v2"):
        worst = max(ratio(r, f"arch {mode}", col) for r in all_results.values())
        verdict = "PASS" if worst <= 1.3 else "FAIL"
        lines.append(
            f"- `{mode}` within 1.3x of the single child at every N: {verdict} (worst {worst:.2f}x)"
        )
    full = {n: ratio(r, "arch full", col) for n, r in all_results.items()}
    lines.append("- `full` ratio by N: " + ", ".join(f"N={n}: {v:.2f}x" for n, v in full.items()))
    ns = list(full)
    if len(ns) >= 3:
        slopes = [(full[b] - full[a]) / (b - a) for a, b in zip(ns, ns[1:], strict=False)]
        linear = max(slopes) <= 1.25 * min(slopes) and min(slopes) > 0
        lines.append(
            f"- `full` grows about linearly with N: {'PASS' if linear else 'FAIL'} "
            f"(per extra candidate: {', '.join(f'{s:.3f}x' for s in slopes)})"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_space_options(parser)
    parser.add_argument(
        "--candidates", type=int, nargs="+", default=sorted(EXPANDS), choices=sorted(EXPANDS)
    )
    add_device_options(parser)
    args = parser.parse_args()
    if args.quick:
        args.batch = 4
    return args


def main() -> None:
    args = parse_args()
    device = setup_device(args)
    results = {n: measure_n(n, args, device) for n in args.candidates}
    print(
        f"## Memory of one step: {args.space}, batch {args.batch}, "
        f"{args.input_size}x{args.input_size}x3, {args.classes} classes, amp {args.amp}\n"
    )
    print(
        f"N candidates per layer, Zero excluded (allow_zero=False) so N is exact: "
        f"kernels {KERNELS} x expands {[EXPANDS[n] for n in args.candidates]}. "
        "Every layer's active path is forced to k7e6 (the largest child) in every row.\n"
    )
    print(report(results, device.type == "cuda"))
    print(
        "\nSaved activations = bytes of tensors saved for backward during the forward "
        "(deduplicated by storage, parameters excluded). They do not count the transient "
        "memory of `full_v2`'s backward re-runs (one inactive candidate at a time, under "
        "no_grad), nor of `full`'s no_grad forwards"
        + ("; the CUDA peak column does." if device.type == "cuda" else ".")
    )
    print(f"\n{machine_line(device, args.threads)}")


if __name__ == "__main__":
    main()
