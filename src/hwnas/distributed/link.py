"""An emulated wide-area link over torch.distributed's real all-reduce (REFERENCE B4).

These machines cannot shape traffic in the kernel (no `netem`), so latency is injected by the
application: every exchange is a real asynchronous `all_reduce` in the process group that
Lightning set up (gloo on CPU, NCCL on GPU), and its result becomes usable only at

    (latest issue time over the ranks) + L + 2(N-1)/N x bytes x 8 / B

on a first-in-first-out link: a message starts to cross only when the one before it has
crossed, so delay can hide latency but never bandwidth. L is the completion latency of the
whole collective (REFERENCE B6): it replaces the real transport's own cost (over loopback,
gloo's fraction of a millisecond) rather than adding to it, except that a message is never
usable before the real collective has finished. With L = 0 and no bandwidth limit the link is
the plain collective. Synchronous SGD and DTS go through the same link, so every
comparison between them is like for like.

The issue times travel inside the exchanged buffer (two float32 slots per rank holding the
high and low parts of that rank's clock), so every rank derives the same arrival times without
an extra message. The clock is `time.perf_counter`, shared by processes on one host: the
emulation is meant for one machine, where `wan.latency_ms` stands for the distance. Links and
step timers read it through `Clock` (`CLOCK` unless given another), so that a clock whose time
moves only when told to (a virtual clock) replays the emulation exactly.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor

from hwnas.distributed.compression import ErrorFeedback
from hwnas.distributed.faults import reported_failures

SPIN_S = 2e-4  # sleep until this close to the deadline, then spin: sleep overshoots ~0.1 ms


# process groups made for links, per (default group, timeout, ranks): each link drains its
# messages before it is dropped, so the next one can use the same groups. The default group is
# kept beside them, so that its id cannot be reused by a later one while the pool holds it.
_CHANNELS: dict[
    tuple[int, float | None, tuple[int, ...]], tuple[dist.ProcessGroup, list[dist.ProcessGroup]]
] = {}


class PeerError(RuntimeError):
    """A peer died, hung or stopped exchanging: raised instead of waiting forever."""


def sleep_until(deadline: float) -> None:
    """Return at `deadline` (a `time.perf_counter` value), within a few microseconds."""
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return
        if remaining > SPIN_S:
            time.sleep(remaining - SPIN_S)


class Clock:
    """The time the emulated link and the step timer read: the host's `time.perf_counter`,
    and a wait until a deadline on it."""

    def now(self) -> float:
        return time.perf_counter()

    def sleep_until(self, deadline: float) -> None:
        sleep_until(deadline)


CLOCK = Clock()  # what a link or step timer reads unless it is given another clock


@dataclass
class LinkStats:
    """What the link has carried: messages, bytes, and the time spent waiting for them."""

    messages: int = 0
    payload_bytes: int = 0
    wait_s: float = 0.0  # time callers spent in `Message.wait`
    emulated_s: float = 0.0  # of which, sleeping for the emulated latency and bandwidth
    late_s: deque[float] = field(default_factory=lambda: deque(maxlen=1000))  # delivery - arrival


class Message:
    """One exchange in flight; `wait()` returns the average over the ranks once it arrived."""

    def __init__(
        self,
        link: EmulatedLink,
        buffer: Tensor,
        works: list[dist.Work],
        size: int,
        what: str,
        clocks: Tensor | None = None,
        sent: Tensor | None = None,
    ) -> None:
        self.link, self.buffer, self.works, self.size, self.what = link, buffer, works, size, what
        self.clocks = buffer[size:] if clocks is None else clocks  # issue times, float32 pairs
        self.sent = sent  # compressed: this rank's contribution as it travelled, decoded
        self.result: Tensor | None = None
        self.arrival: float | None = None  # the clock's time the emulated link delivers it

    def wait(self) -> Tensor:
        """Block until the average has arrived over the emulated link (earlier messages first:
        the link is FIFO); returns it (a view of the exchanged buffer)."""
        if self.result is None:
            self.link._deliver_up_to(self)
        assert self.result is not None
        return self.result


class EmulatedLink:
    """All-reduce (average) over a process group, delivered as over a link of the given
    latency and bandwidth.

    Args:
        latency_ms: completion latency L of one exchange (a ring all-reduce pays 2(N-1) hops;
            L is what the whole collective takes, REFERENCE B6).
        bandwidth_mbps: per-worker bandwidth B in Mb/s; None or 0 means unlimited.
        group: the ranks that exchange (None: every rank of the default group).
        timeout_s: how long a wait for a peer may last: the timeout of the channels' process
            groups, and named in the error.
        channels: how many exchanges may be in flight without one waiting for another
            (`ensure_channels` adds more later).
        clock: the time issues, deliveries and waits are read on (None: `CLOCK`).

    Exchanges never run on `group` itself: each goes, in turn, over one of `channels` process
    groups of the same ranks made for the link. A gloo group runs at most two collectives at
    once and NCCL one communicator's in order, so on a single group an exchange issued t steps
    ago would hold up the next ones, and any other collective on it (Lightning's own, on the
    default group) would wait for every exchange in flight: on a real link, a latency each.
    """

    def __init__(
        self,
        latency_ms: float = 0.0,
        bandwidth_mbps: float | None = None,
        group: dist.ProcessGroup | None = None,
        timeout_s: float | None = None,
        channels: int = 1,
        clock: Clock | None = None,
    ) -> None:
        if latency_ms < 0 or (bandwidth_mbps is not None and bandwidth_mbps < 0):
            raise ValueError(
                f"wan.latency_ms and wan.bandwidth_mbps must be >= 0, got "
                f"{latency_ms} and {bandwidth_mbps}"
            )
        self.latency_s = latency_ms / 1e3
        self.bits_per_s = bandwidth_mbps * 1e6 if bandwidth_mbps else None
        self.group, self.timeout_s = group, timeout_s
        self.clock = CLOCK if clock is None else clock
        distributed = dist.is_available() and dist.is_initialized()
        self.world = dist.get_world_size(group) if distributed else 1
        self.rank = dist.get_rank(group) if distributed else 0
        self.origin = self._shared_origin(distributed)
        self.channels: list[dist.ProcessGroup] = []
        self.sent = 0  # messages issued, which picks each one's channel
        if distributed and self.world > 1:
            self.ensure_channels(channels)
        self.free_at = float("-inf")  # when the link has carried everything queued so far
        self.in_flight: deque[Message] = deque()
        self.stats = LinkStats()

    @property
    def emulated(self) -> bool:
        return self.latency_s > 0 or self.bits_per_s is not None

    def ensure_channels(self, count: int) -> None:
        """Have at least `count` process groups to exchange over (a collective call: every rank
        must make it at the same point)."""
        if self.world == 1:
            return
        ranks = dist.get_process_group_ranks(self.group) if self.group is not None else None
        timeout = timedelta(seconds=self.timeout_s) if self.timeout_s else None
        world = dist.group.WORLD
        key = (id(world), self.timeout_s, tuple(ranks or ()))
        pool = _CHANNELS.setdefault(key, (world, []))[1]
        while len(pool) < count:  # later links (the next fit) reuse them: a group costs
            pool.append(dist.new_group(ranks=ranks, timeout=timeout))  # round trips to make
        self.channels = pool[: max(count, len(self.channels))]

    def transfer_s(self, payload_bytes: int) -> float:
        """Time to push one message through the bandwidth: 2(N-1)/N x bytes x 8 / B."""
        if self.bits_per_s is None:
            return 0.0
        return 2 * (self.world - 1) / self.world * payload_bytes * 8 / self.bits_per_s

    def all_reduce_mean(
        self, payload: Tensor, what: str = "exchange", feedback: ErrorFeedback | None = None
    ) -> Message:
        """Start averaging `payload` over the ranks (it is copied; the caller may reuse it).
        With `feedback` it travels in that 16-bit type, its rounding carried to the stream's
        next message; `Message.sent` is then what this rank's contribution became.

        The emulated latency counts from the moment the payload exists: on a GPU the host
        waits for the kernels queued before it (a CUDA event), not only for their launch."""
        if self.emulated and payload.is_cuda:
            ready = torch.cuda.Event()
            ready.record(torch.cuda.current_stream(payload.device))
            ready.synchronize()
        now = self.clock.now() - self.origin  # issued when handed over
        dtype = torch.float64 if payload.dtype == torch.float64 else torch.float32
        n = payload.numel()
        clocks, sent = None, None
        if feedback is None:
            buffer = torch.zeros(n + 2 * self.world, dtype=dtype, device=payload.device)
            # Divide before summing, as DDP does: with t = 0 the result is DDP's to the bit.
            torch.div(payload.reshape(-1), self.world, out=buffer[:n])
            stamp = buffer[n:]
        else:  # the clocks need float32: they travel beside the 16-bit payload
            buffer = feedback.encode(payload.reshape(-1) / self.world)
            sent = (buffer.float() * self.world).to(payload.dtype)
            clocks = stamp = torch.zeros(2 * self.world, dtype=torch.float32, device=payload.device)
        high = torch.tensor(now, dtype=torch.float32).item()
        stamp[2 * self.rank] = high
        stamp[2 * self.rank + 1] = now - high  # together exact to a nanosecond
        works = []
        if self.world > 1:
            channel = self.channels[self.sent % len(self.channels)]
            works.append(dist.all_reduce(buffer, group=channel, async_op=True))
            if clocks is not None:
                works.append(dist.all_reduce(clocks, group=channel, async_op=True))
        self.sent += 1
        message = Message(self, buffer, works, n, what, clocks, sent)
        self.in_flight.append(message)
        self.stats.messages += 1
        self.stats.payload_bytes += n * buffer.element_size()
        return message

    def drain(self) -> None:
        """Wait for every message in flight (their results stay readable)."""
        if self.in_flight:
            self.in_flight[-1].wait()

    def _deliver_up_to(self, message: Message) -> None:
        start = self.clock.now()
        while True:
            head = self.in_flight.popleft()
            self._deliver(head)
            if head is message:
                break
        self.stats.wait_s += self.clock.now() - start

    def _deliver(self, message: Message) -> None:
        began = time.perf_counter()  # the real collective's wait, against its real timeout
        for work in message.works:
            try:
                work.wait()
            except RuntimeError as error:
                raise PeerError(
                    self._failure(message, error, time.perf_counter() - began)
                ) from error
        n, buffer = message.size, message.buffer
        clocks = message.clocks.to("cpu", torch.float64)  # waits for the collective on a GPU too
        issued = float((clocks[0::2] + clocks[1::2]).max())
        size_bytes = n * buffer.element_size()
        begin = max(issued, self.free_at)
        self.free_at = begin + self.transfer_s(size_bytes)
        message.arrival = self.origin + self.free_at + self.latency_s
        if self.emulated:
            before = self.clock.now()
            self.clock.sleep_until(message.arrival)
            self.stats.emulated_s += self.clock.now() - before
        self.stats.late_s.append(self.clock.now() - message.arrival)
        message.result = buffer[:n]

    def _failure(self, message: Message, error: RuntimeError, waited_s: float) -> str:
        """What happened to an exchange that did not complete, and what is kept."""
        if self.timeout_s and waited_s >= 0.9 * self.timeout_s:
            what = f"no answer within {self.timeout_s:g} s (dts.timeout_s): a peer hung or stalled"
        else:
            what = "a peer closed its connection: it died or left the exchange"
        causes = reported_failures()
        if causes:
            what += " (" + "; ".join(causes) + ")"
        return (
            f"rank {self.rank}: the {message.what} did not complete: {what}. Checkpoints already "
            "written are kept (last.ckpt is the last sync point's; rank 0 writes interrupted.ckpt "
            "when it is the one still running). Restart every process and resume from the run's "
            "last.ckpt or interrupted.ckpt. The collective reported: "
            f"{str(error).splitlines()[0][:300]}"
        )

    def _shared_origin(self, distributed: bool) -> float:
        """Rank 0's clock at start-up, so issue times fit float32 halves for days."""
        origin = torch.tensor([self.clock.now()], dtype=torch.float64)
        if distributed and self.world > 1:
            backend = dist.get_backend(self.group)
            device = "cuda" if backend == "nccl" else "cpu"
            origin = origin.to(device)
            dist.broadcast(
                origin,
                src=dist.get_global_rank(self.group, 0) if self.group else 0,
                group=self.group,
            )
        return float(origin.cpu())
