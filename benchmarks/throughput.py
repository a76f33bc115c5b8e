"""Training throughput of a ProxylessNAS search against training its derived child alone.

Configurations, measured side by side on the same pre-generated synthetic batches:
- `child`: the timm model of a random (seeded) architecture of the space, SGD;
- `weight steps`: the supernet's weight steps only (path sampled from p each step);
- `search <mode>`: weight steps plus one architecture step every `--every` weight steps
  (REFERENCE A2, A4: CE + `mul_log` expected-FLOPs term, Adam on the alphas).
The supernet's alphas are peaked on the child (alpha 8 there, 0 elsewhere), so weight steps
almost always run the child's path. Images/s count the weight-step images only.

    python benchmarks/throughput.py                  # CPU, proxyless_cifar, batch 64, 32x32
    python benchmarks/throughput.py --device cuda --amp bf16 --channels-last \
        --space proxyless_imagenet --input-size 224 --batch 64
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from common import (
    add_device_options,
    add_space_options,
    autocast,
    cycle,
    load_space,
    machine_line,
    markdown_table,
    setup_device,
    sync,
    synthetic_batches,
    to_device,
)
from torch import Tensor, nn

from hwnas.architecture.derive import derive_architecture
from hwnas.architecture.timm_model import build_timm_model
from hwnas.cost import ExpectedCost, FlopsCostModel
from hwnas.objective import HardwareCostLoss
from hwnas.search.arch_step import architecture_step
from hwnas.search.supernet import SuperNet
from hwnas.search_space.depthwise import use_small_map_depthwise
from hwnas.search_space.space import SearchSpace

Batches = Iterator[tuple[Tensor, Tensor]]


@dataclass
class Config:
    """One measured configuration: a weight step and, for a search, an architecture step."""

    name: str
    weight_step: Callable[[], None]
    arch_step: Callable[[], None] | None = None
    ips: list[float] = field(default_factory=list)  # images/s per round
    arch_ms: list[float] = field(default_factory=list)  # time of each architecture step


def sgd(params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """The search's weight optimiser (REFERENCE A5)."""
    return torch.optim.SGD(params, lr=0.025, momentum=0.9, nesterov=True, weight_decay=4e-5)


def train_step(
    model: nn.Module, opt: torch.optim.Optimizer, batches: Batches, device: torch.device, amp: str
) -> None:
    """One SGD step with label smoothing 0.1, as the search's weight steps."""
    x, y = next(batches)
    with autocast(device, amp):
        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def peak_alphas(net: SuperNet, indices: list[int], value: float = 8.0) -> None:
    """alpha = `value` at the child's candidate, 0 elsewhere: p is peaked on the child."""
    with torch.no_grad():
        for block, index in zip(net.blocks, indices, strict=True):
            block.alpha.zero_()
            block.alpha[index] = value


def search_configs(
    net: SuperNet,
    space: SearchSpace,
    child: list[int],
    batches: Batches,
    args: argparse.Namespace,
    device: torch.device,
) -> list[Config]:
    """The supernet's configurations: weight steps only, and a search per arch mode."""
    gen = torch.Generator().manual_seed(args.seed)
    w_opt = sgd(net.weight_parameters())
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=1e-3, betas=(0.0, 0.999), eps=1e-8)
    expected_cost = ExpectedCost(FlopsCostModel(), space)
    cost_loss = HardwareCostLoss("mul_log", target=expected_cost.of_paths(child))

    def weight_step() -> None:
        net.sample_paths(gen)
        train_step(net, w_opt, batches, device, args.amp)

    def arch_step(mode: str) -> Callable[[], None]:
        def step() -> None:
            x, y = next(batches)

            def forward(inputs: Tensor) -> Tensor:
                with autocast(device, args.amp):
                    return net(inputs)

            architecture_step(net, x, y, mode, gen, expected_cost, cost_loss, a_opt, forward)

        return step

    configs = [Config("weight steps", weight_step)]
    configs += [Config(f"search {m}", weight_step, arch_step(m)) for m in args.arch_mode]
    return configs


def build_configs(args: argparse.Namespace, device: torch.device) -> tuple[list[Config], str]:
    """The child and the supernet configurations, and a line describing the child."""
    space = load_space(
        args.space, input_size=args.input_size, num_classes=args.classes, width_mult=args.width_mult
    )
    gen = torch.Generator().manual_seed(args.seed)
    child = [int(torch.randint(n, (1,), generator=gen)) for n in space.num_candidates]
    batches = cycle(
        synthetic_batches(4, args.batch, args.input_size, args.classes, device, args.channels_last)
    )
    torch.manual_seed(args.seed)
    model = build_timm_model(derive_architecture(space, child))
    use_small_map_depthwise(model)  # as train.py trains it, and as the supernet's convs are
    net = SuperNet(space)
    peak_alphas(net, child)
    for m in (model, net):
        to_device(m, device, args.channels_last)
        m.train()
    c_opt = sgd(list(model.parameters()))
    configs = [Config("child", lambda: train_step(model, c_opt, batches, device, args.amp))]
    configs += search_configs(net, space, child, batches, args, device)
    ops = " ".join(str(layer.candidates[i]) for layer, i in zip(space.layers, child, strict=True))
    p_child = float(torch.stack([p.max() for p in net.cpu_probs()]).prod())
    return configs, f"Child (seed {args.seed}): {ops}; P(weight step runs it) = {p_child:.3f}"


def run_round(config: Config, args: argparse.Namespace, device: torch.device) -> None:
    """Warm up, then time `args.steps` weight steps (with their architecture steps)."""
    for _ in range(args.warmup):
        config.weight_step()
    if config.arch_step is not None:
        config.arch_step()
    sync(device)
    start = time.perf_counter()
    for i in range(args.steps):
        config.weight_step()
        if config.arch_step is not None and (i + 1) % args.every == 0:
            sync(device)
            t0 = time.perf_counter()
            config.arch_step()
            sync(device)
            config.arch_ms.append(1e3 * (time.perf_counter() - t0))
    sync(device)
    config.ips.append(args.steps * args.batch / (time.perf_counter() - start))


def report(configs: list[Config], args: argparse.Namespace) -> str:
    """The table and the pass/fail lines of the targets."""
    child = statistics.median(configs[0].ips)
    weight_ms = 1e3 * args.batch / statistics.median(configs[1].ips)
    rows = []
    for c in configs:
        ips = statistics.median(c.ips)
        arch = statistics.median(c.arch_ms) if c.arch_ms else None
        rows.append(
            [
                c.name,
                f"{ips:.1f}",
                f"{ips / child:.2f}",
                f"{1e3 * args.batch / ips:.0f}",
                "-" if arch is None else f"{arch:.0f} ({arch / weight_ms:.1f}x weight step)",
                " ".join(f"{v:.1f}" for v in c.ips),
            ]
        )
    header = [
        "configuration",
        "images/s (median)",
        "x child",
        "ms / weight step (incl. arch)",
        "ms / arch step",
        "images/s per round",
    ]
    lines = [markdown_table(header, rows), "", "Targets:"]
    targets = [(c, 0.95 if c.name == "weight steps" else 0.6) for c in configs[1:]]
    for c, target in targets:
        r = statistics.median(c.ips) / child
        lines.append(
            f"- {c.name} >= {target}x child: {'PASS' if r >= target else 'FAIL'} ({r:.2f}x)"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_space_options(parser)
    parser.add_argument("--width-mult", type=float, default=1.0)
    parser.add_argument(
        "--arch-mode",
        nargs="+",
        default=["full_v2", "two"],
        choices=["full", "two", "full_v2"],
        help="architecture-step modes",
    )
    parser.add_argument("--every", type=int, default=5, help="weight steps per arch step")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="timed weight steps per round")
    parser.add_argument("--warmup", type=int, default=1, help="weight steps before timing")
    parser.add_argument("--seed", type=int, default=0)
    add_device_options(parser)
    args = parser.parse_args()
    if args.quick:
        args.batch, args.rounds = 8, 1
    if args.steps % args.every:
        parser.error(f"--steps ({args.steps}) must be a multiple of --every ({args.every})")
    return args


def main() -> None:
    args = parse_args()
    device = setup_device(args)
    configs, child_line = build_configs(args, device)
    for r in range(args.rounds):  # rotate the order so no configuration always goes first
        for config in configs[r % len(configs) :] + configs[: r % len(configs)]:
            run_round(config, args, device)
    print(
        f"## Throughput: {args.space}, batch {args.batch}, {args.input_size}x{args.input_size}"
        f", width {args.width_mult}, amp {args.amp}, channels_last {args.channels_last}\n"
    )
    print(
        f"{args.rounds} rounds of {args.steps} timed weight steps per configuration "
        f"(after {args.warmup} warm-up weight step(s) and one arch step); one arch step every "
        f"{args.every} weight steps. {child_line}\n"
    )
    print(report(configs, args))
    print(f"\n{machine_line(device, args.threads)}")


if __name__ == "__main__":
    main()
