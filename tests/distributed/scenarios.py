"""What the DTS engine tests run on two gloo processes. Every scenario runs on both ranks, in
this order, in one pair of processes (starting a process costs seconds of imports); each returns
what its test checks. Not a test module."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from link_scenarios import (
    collective_beside_exchanges,
    delivery_times,
    fifo_bandwidth,
    synchronous_step_times,
)
from torch.distributed.algorithms.model_averaging.averagers import PeriodicModelAverager
from toy_model import LR, backward, gather, toy_model

from hwnas.distributed import (
    DelayedGradients,
    DTSSettings,
    EmulatedLink,
    PeriodicDeltas,
    SharedGradients,
    average_replicas,
    nesterov_outer,
)
from hwnas.distributed.flat import flatten, set_grads
from hwnas.distributed.settings import check_same_on_every_rank


# --- B1: delayed gradients ----------------------------------------------------------------
def delayed(
    rank: int, delay: int, steps: int, correction: bool = True, compress: str | None = None
) -> dict[str, Any]:
    model = toy_model()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=LR)
    exchange = DelayedGradients(
        params, EmulatedLink(), delay=delay, correction=correction, compress=compress
    )
    for step in range(steps):
        backward(model, rank, step)
        exchange.exchange()
        opt.step()
    weights = flatten(params)
    local = exchange.local_gradients_in_flight()
    own = torch.stack(local).sum(0) if local else torch.zeros_like(weights)
    shared = weights + LR * own  # B1: the same on every rank
    # Applying every pending correction replaces the own gradients by their averages.
    corrected = shared - LR * torch.stack(gather(own)).mean(0)
    result = {
        "weights": weights,
        "replicas": gather(weights),
        "shared": gather(shared),
        "corrected": corrected,
        "in_flight": len(local),
    }
    exchange.drain()
    average_replicas(exchange.link, model, [opt])
    result["drained"] = gather(flatten(params))
    return result


def synchronous_reference(rank: int, steps: int) -> torch.Tensor:
    """Synchronous SGD written out: average the gradients, then step."""
    model = toy_model()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    for step in range(steps):
        backward(model, rank, step)
        for p in model.parameters():
            p.grad.div_(dist.get_world_size())
            dist.all_reduce(p.grad)
        opt.step()
    return flatten(list(model.parameters()))


def stale_reference(rank: int, delay: int, steps: int) -> torch.Tensor:
    """The ablation written out: step k applies the average gradient of step k - t (nothing
    while k < t)."""
    model = toy_model()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=LR)
    averages = []
    for step in range(steps):
        backward(model, rank, step)
        average = flatten([p.grad for p in params]) / dist.get_world_size()
        dist.all_reduce(average)
        averages.append(average)
        stale = averages[step - delay] if step >= delay else torch.zeros_like(average)
        set_grads(params, stale)
        opt.step()
    return flatten(params)


def sampled_paths(rank: int, delay: int, steps: int) -> dict[str, Any]:
    """A search's sparse gradients: step s samples parameter a (s % 3 == 0), b (s % 3 == 1) or
    neither, the same on every rank; which parameters get a gradient after the exchange, and
    a's gradient where the correction of step 0 reaches it."""
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    exchange = DelayedGradients([a, b], EmulatedLink(), delay=delay, sparse=True)
    present, a_grads = [], []
    for step in range(steps):
        a.grad = b.grad = None
        sampled = (a, b, None)[step % 3]
        if sampled is not None:
            sampled.grad = torch.full_like(sampled, float((rank + 1) * (step + 1)))
        exchange.exchange()
        present.append((a.grad is not None, b.grad is not None))
        a_grads.append(None if a.grad is None else a.grad.clone())
    return {"present": present, "a_grads": a_grads}


def shared(rank: int, delay: int, steps: int) -> dict[str, Any]:
    """Parameters kept identical on every rank: Adam fed the average of step m - t alone."""
    torch.manual_seed(0)
    params = [torch.randn(4, requires_grad=True), torch.randn(2, 3, requires_grad=True)]
    opt = torch.optim.Adam(params, lr=0.1)
    exchange = SharedGradients(params, EmulatedLink(), delay=delay)
    replicas, stepped = [], []
    for step in range(steps):
        g = torch.Generator().manual_seed(100 * step + rank)
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        exchange.exchange()
        stepped.append(all(p.grad is not None for p in params))
        opt.step()
        replicas.append(gather(flatten(params)))
    exchange.settle()
    return {
        "replicas": replicas,
        "stepped": stepped,
        "weights": flatten(params),
        "pending": len(exchange.state_dict()["pending"]),
    }


def shared_reference(rank: int, delay: int, steps: int) -> torch.Tensor:
    """The same written out: all-reduce each step's gradients, apply them t steps later."""
    torch.manual_seed(0)
    params = [torch.randn(4, requires_grad=True), torch.randn(2, 3, requires_grad=True)]
    opt = torch.optim.Adam(params, lr=0.1)
    averages = []
    for step in range(steps):
        g = torch.Generator().manual_seed(100 * step + rank)
        grads = [torch.randn(p.shape, generator=g) for p in params]
        average = flatten(grads) / dist.get_world_size()
        dist.all_reduce(average)
        averages.append(average)
        if step >= delay:
            set_grads(params, averages[step - delay])
            opt.step()
    return flatten(params)


# --- B2: periodic parameter deltas --------------------------------------------------------
def periodic(
    rank: int, period: int, delay: int, steps: int, outer: bool = False, compress: str | None = None
) -> dict[str, Any]:
    model = toy_model()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=LR, momentum=0.9)
    exchange = PeriodicDeltas(
        params, EmulatedLink(), period, delay, nesterov_outer() if outer else None, compress
    )
    for step in range(steps):
        backward(model, rank, step)
        opt.step()
        exchange.after_step()
    result = {"weights": flatten(params), "replicas": gather(flatten(params))}
    exchange.drain()
    result["drained"] = gather(flatten(params))  # before any averaging of the replicas
    return result


def periodic_averager_reference(rank: int, period: int, steps: int) -> torch.Tensor:
    """torch's PeriodicModelAverager, averaging after steps p, 2p, ..."""
    model = toy_model()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=LR, momentum=0.9)
    averager = PeriodicModelAverager(period=period, warmup_steps=period - 1)
    for step in range(steps):
        backward(model, rank, step)
        opt.step()
        averager.average_parameters(params)
    return flatten(params)


def diloco_reference(
    rank: int, period: int, steps: int, lr: float = 0.7, mu: float = 0.9
) -> torch.Tensor:
    """DiLoCo written out: every p local steps the global model takes a Nesterov step on the
    averaged delta, and every worker restarts from it."""
    model = toy_model()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=LR, momentum=0.9)
    global_w, buf = flatten(params), None
    for step in range(steps):
        backward(model, rank, step)
        opt.step()
        if (step + 1) % period == 0:
            delta = flatten(params) - global_w
            delta /= dist.get_world_size()
            dist.all_reduce(delta)
            grad = -delta
            buf = grad.clone() if buf is None else mu * buf + grad
            global_w = global_w - lr * (grad + mu * buf)
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(global_w.clone(), params)
    return flatten(params)


def delayed_diloco_reference(
    rank: int, period: int, delay: int, steps: int, lr: float = 0.7, mu: float = 0.9
) -> torch.Tensor:
    """DiLoCo with the average arriving t < p steps late, written as the outer model plus each
    worker's local progress since it sent: every p steps a worker sends its weights' distance
    to the outer model; t steps later the outer model takes a Nesterov step on their average
    and the worker continues from it, keeping what it learnt in between."""
    model = toy_model()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=LR, momentum=0.9)
    outer_w, buf, sent = flatten(params), None, None
    for n in range(1, steps + 1):
        backward(model, rank, n - 1)
        opt.step()
        if n % period == 0:
            weights = flatten(params)
            delta = (weights - outer_w) / dist.get_world_size()
            dist.all_reduce(delta)
            sent = (n, weights, delta)
        if sent is not None and n == sent[0] + delay:
            _, at_send, mean = sent
            grad = -mean
            buf = grad.clone() if buf is None else mu * buf + grad
            outer_w = outer_w - lr * (grad + mu * buf)
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(outer_w + flatten(params) - at_send, params)
    return flatten(params)


def diloco_drain_of_a_still_window(rank: int, period: int, steps: int) -> dict[str, Any]:
    """DiLoCo for `steps` (a multiple of p, so the replicas were just averaged), one more step
    at lr = 0, then a drain: the open window's delta is zero on every rank."""
    model = toy_model()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=LR, momentum=0.9)
    exchange = PeriodicDeltas(params, EmulatedLink(), period, 0, nesterov_outer())
    for step in range(steps + 1):
        if step == steps:
            for group in opt.param_groups:
                group["lr"] = 0.0
        backward(model, rank, step)
        opt.step()
        exchange.after_step()
    before = flatten(params)
    exchange.drain()
    return {"before": before, "after": flatten(params)}


def compressed_exchanges(rank: int, compress: str, steps: int) -> dict[str, Any]:
    """The same stream of per-rank tensors averaged in full precision and in 16 bits with error
    feedback: every average, what each rank's contributions summed to, and the bytes sent."""
    from hwnas.distributed.compression import ErrorFeedback

    exact_link, half_link, feedback = EmulatedLink(), EmulatedLink(), ErrorFeedback(compress)
    g = torch.Generator().manual_seed(rank)
    exact, half, sent_sum, meant_sum = [], [], torch.zeros(1000), torch.zeros(1000)
    for _ in range(steps):
        x = torch.randn(1000, generator=g) * (1 + rank)
        exact.append(exact_link.all_reduce_mean(x).wait().clone())
        message = half_link.all_reduce_mean(x, feedback=feedback)
        half.append(message.wait().float())
        sent_sum += message.sent
        meant_sum += x
    return {
        "exact": torch.stack(exact),
        "half": torch.stack(half),
        "sent_sum": sent_sum,
        "meant_sum": meant_sum,
        "residual": feedback.residual,
        "bytes": (exact_link.stats.payload_bytes, half_link.stats.payload_bytes),
    }


# --- settings -----------------------------------------------------------------------------
def mismatched_settings(rank: int) -> str:
    try:
        check_same_on_every_rank(DTSSettings(delay=4 + rank, period=1), exchanged_values=10)
    except ValueError as error:
        return str(error)
    return "no error"


SCENARIOS: dict[str, tuple[Callable[..., Any], tuple]] = {
    "delayed_t3": (delayed, (3, 7)),
    "delayed_t0": (delayed, (0, 5)),
    "synchronous_reference": (synchronous_reference, (5,)),
    "ablation_t3": (delayed, (3, 7, False)),
    "stale_reference_t3": (stale_reference, (3, 7)),
    "sampled_paths_t1": (sampled_paths, (1, 6)),
    "shared_t2": (shared, (2, 7)),
    "shared_reference_t2": (shared_reference, (2, 7)),
    "periodic_p4_t0": (periodic, (4, 0, 12)),
    "averager_p4": (periodic_averager_reference, (4, 12)),
    "periodic_p4_t2": (periodic, (4, 2, 10)),
    "outer_p3_t0": (periodic, (3, 0, 9, True)),
    "diloco_p3": (diloco_reference, (3, 9)),
    "outer_p3_t2": (periodic, (3, 2, 11, True)),
    "delayed_diloco_p3_t2": (delayed_diloco_reference, (3, 2, 11)),
    "diloco_drain_still_window": (diloco_drain_of_a_still_window, (4, 8)),
    "delivery_20ms": (delivery_times, (20.0, 15, True)),
    "fifo_10ms_100mbps": (fifo_bandwidth, (10.0, 100.0, 4, 100_000, True)),
    "compute_only": (synchronous_step_times, (None, 6, True)),
    "ssgd_0ms": (synchronous_step_times, (0.0, 6, True)),
    "ssgd_50ms": (synchronous_step_times, (50.0, 6, True)),
    "mismatched_settings": (mismatched_settings, ()),
    "compressed_bf16": (compressed_exchanges, ("bf16", 200)),
    "compressed_fp16": (compressed_exchanges, ("fp16", 50)),
    "delayed_t2_bf16": (delayed, (2, 12, True, "bf16")),
    "delayed_t2_full": (delayed, (2, 12)),
    "periodic_p4_t2_bf16": (periodic, (4, 2, 10, True, "bf16")),
    "periodic_p4_t2_outer": (periodic, (4, 2, 10, True)),
    "beside_exchanges": (collective_beside_exchanges, (3, 3)),  # last: a deadlock stalls the rest
}


def run_all(
    rank: int, scenarios: dict[str, tuple[Callable[..., Any], tuple]] = SCENARIOS
) -> dict[str, Any]:
    """Every scenario on this rank; a scenario that raises returns its traceback."""
    results = {}
    for name, (fn, args) in scenarios.items():
        try:
            results[name] = fn(rank, *args)
        except Exception:  # noqa: BLE001 - reported by the scenario's test
            results[name] = {"error": traceback.format_exc()}
        dist.barrier()
    return results
