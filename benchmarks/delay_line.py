"""A real delayed network on one machine: each node in a network namespace of its own, joined
through a userspace delay line (REFERENCE B4), so that gloo, NCCL's socket transport and the
TCP store really cross a link with a one-way delay and, optionally, a bandwidth limit.

These kernels have no `netem`, but network namespaces and TAP devices work. The delay line is a
small Ethernet switch in a process of its own: it opens one TAP device inside every namespace,
learns which MAC address sits behind which port, and hands every frame to the other side after
the one-way delay (and, with a bandwidth limit, after the frame's transmission time at the
sending port, dropping frames once that port's queue holds more than `queue_ms`). TCP inside
the namespaces is tuned as for a long fat link (large windows, no slow start after idle).

Every address is inside the namespaces this tool makes (10.250.0.0/24, node i at 10.250.0.i+1);
the namespaces and the delay line are removed on exit, on error and on Ctrl-C. Needs root and
`/dev/net/tun`; `unavailable()` says why it cannot run.

    with DelayLine(delay_ms=50) as line:                # two nodes, 50 ms each way
        subprocess.run(line.command(0, ["ping", "-c", "1", line.address(1)]))

    python benchmarks/delay_line.py --delay-ms 25 100 250      # round trip and TCP throughput
    python benchmarks/delay_line.py --delay-ms 50 --bandwidth-mbps 50
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import heapq
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

SUBNET = "10.250.0"
TAP_NAME = "hwtap"
MTU = 65000
PREFIX = "hwnas-dl"
TCP_SYSCTLS = {
    "net.ipv4.tcp_rmem": "4096 131072 134217728",
    "net.ipv4.tcp_wmem": "4096 65536 134217728",
    "net.ipv4.tcp_slow_start_after_idle": "0",
}
_TUNSETIFF, _IFF_TAP, _IFF_NO_PI, _CLONE_NEWNET = 0x400454CA, 0x0002, 0x1000, 0x40000000


def unavailable() -> str | None:
    """Why a delay line cannot be built here, or None if it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and TAP devices)"
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun (TAP devices)"
    try:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0
    except FileNotFoundError:
        listed = False
    if not listed:
        return "needs iproute2's `ip netns`"
    return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")


def remove_stale_namespaces() -> list[str]:
    """Remove the namespaces of delay lines whose process is gone (a run killed by kill -9)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    removed = []
    for name in (line.split()[0] for line in listed.splitlines() if line.strip()):
        parts = name.split("-")
        ours = name.startswith(PREFIX + "-") and len(parts) == 4 and parts[2].isdigit()
        if ours and not Path(f"/proc/{parts[2]}").exists():  # its maker has gone
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            removed.append(name)
    return removed


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class DelayLine:
    """N nodes, each in a namespace, behind one delay-line switch.

    Args:
        delay_ms: one-way delay of every frame (a round trip takes twice that).
        bandwidth_mbps: each node's sending rate in Mb/s; None for no limit beyond the
            forwarder's own speed.
        nodes: how many namespaces.
        queue_ms: with a bandwidth limit, a port's queue in transmission time; frames beyond
            it are dropped, as a router drops them.
        mtu: the TAP devices' frame size; None: 65000 without a bandwidth limit (fewer frames
            for the forwarder to move), 1500 with one (as on the internet: a large frame would
            hold a slow port for a long time).
    """

    def __init__(
        self,
        delay_ms: float,
        bandwidth_mbps: float | None = None,
        nodes: int = 2,
        queue_ms: float = 200.0,
        mtu: int | None = None,
    ) -> None:
        if delay_ms < 0 or nodes < 2 or (bandwidth_mbps is not None and bandwidth_mbps <= 0):
            raise ValueError(
                f"need delay_ms >= 0, nodes >= 2 and bandwidth_mbps > 0 or None; "
                f"got {delay_ms}, {nodes}, {bandwidth_mbps}"
            )
        self.delay_ms, self.bandwidth_mbps, self.nodes = delay_ms, bandwidth_mbps, nodes
        self.queue_ms = queue_ms
        self.mtu = mtu or (1500 if bandwidth_mbps else MTU)
        self.namespaces = [
            f"{PREFIX}-{os.getpid()}-{id(self) % 100_000:05d}n{i}" for i in range(nodes)
        ]
        self.forwarder: subprocess.Popen | None = None

    def address(self, node: int) -> str:
        return f"{SUBNET}.{node + 1}"

    def command(self, node: int, argv: Sequence[str]) -> list[str]:
        """`argv` run inside node `node`'s namespace."""
        return ["ip", "netns", "exec", self.namespaces[node], *argv]

    def __enter__(self) -> DelayLine:
        reason = unavailable()
        if reason:
            raise RuntimeError(f"cannot build a delay line here: {reason}")
        remove_stale_namespaces()
        self._on_sigterm = None
        if threading.current_thread() is threading.main_thread():  # a SIGTERM unwinds, as Ctrl-C
            self._on_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)  # does
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        for ns in self.namespaces:
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        argv = [
            sys.executable,
            __file__,
            "--forward",
            f"{self.delay_ms}",
            f"{self.bandwidth_mbps or 0}",
            f"{self.queue_ms}",
            *self.namespaces,
        ]
        self.forwarder = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        assert self.forwarder.stdout is not None
        ready = self.forwarder.stdout.readline()
        if ready.strip() != b"ready":
            self.forwarder.wait(timeout=10)
            raise RuntimeError(f"the delay line did not start (exit {self.forwarder.returncode})")
        for node, ns in enumerate(self.namespaces):
            _ip("-n", ns, "link", "set", TAP_NAME, "mtu", str(self.mtu), "up")
            _ip("-n", ns, "addr", "add", f"{self.address(node)}/24", "dev", TAP_NAME)
            settings = [f"{k}={v}" for k, v in TCP_SYSCTLS.items()]
            subprocess.run(
                ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *settings],
                check=True,
                capture_output=True,
            )

    def close(self) -> None:
        """Stop the delay line and remove every namespace (idempotent)."""
        if getattr(self, "_on_sigterm", None) is not None:
            signal.signal(signal.SIGTERM, self._on_sigterm)
            self._on_sigterm = None
        if self.forwarder is not None and self.forwarder.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.forwarder.pid, signal.SIGTERM)
            try:
                self.forwarder.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.forwarder.pid, signal.SIGKILL)
                self.forwarder.wait()
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        for ns in self.namespaces:
            if ns in listed:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)


# --- the forwarder (runs as its own process) ----------------------------------------------------
def _open_tap(namespace: str, libc: ctypes.CDLL) -> int:
    with open(f"/var/run/netns/{namespace}") as ns:
        if libc.setns(ns.fileno(), _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace}")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", TAP_NAME.encode(), _IFF_TAP | _IFF_NO_PI))
    return fd


def forward(
    delay_ms: float, bandwidth_mbps: float, queue_ms: float, namespaces: Sequence[str]
) -> None:
    """Switch frames between one TAP device per namespace, each after the one-way delay; ends
    when its standard input closes (the process that started it is gone) or on SIGTERM."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/self/ns/net") as home:
        fds = [_open_tap(ns, libc) for ns in namespaces]
        libc.setns(home.fileno(), _CLONE_NEWNET)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    delay, queue = delay_ms / 1e3, queue_ms / 1e3
    seconds_per_byte = 8 / (bandwidth_mbps * 1e6) if bandwidth_mbps > 0 else 0.0
    port_of = {fd: i for i, fd in enumerate(fds)}
    mac_port: dict[bytes, int] = {}
    free_at = [0.0] * len(fds)  # when each sending port has transmitted its queue
    due: list[tuple[float, int, int, bytes]] = []  # (delivery time, sequence, port, frame)
    sequence = 0
    stdin = sys.stdin.fileno()
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, port, frame = heapq.heappop(due)
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(fds[port], frame)
        timeout = max(0.0, due[0][0] - now) if due else 1.0
        readable, _, _ = select.select([*fds, stdin], [], [], timeout)
        if stdin in readable and not os.read(stdin, 1):
            return
        now = time.monotonic()
        for fd in readable:
            if fd == stdin:
                continue
            src = port_of[fd]
            while True:
                try:
                    frame = os.read(fd, MTU + 64)
                except BlockingIOError:
                    break
                if len(frame) < 14:
                    continue
                mac_port[frame[6:12]] = src
                sent = now
                if seconds_per_byte:
                    start = max(now, free_at[src])
                    if start - now > queue:
                        continue  # the port's queue is full: drop, as a router would
                    free_at[src] = sent = start + len(frame) * seconds_per_byte
                dst = mac_port.get(frame[0:6])
                targets = (
                    [dst]
                    if dst is not None and dst != src
                    else [p for p in range(len(fds)) if p != src]
                )
                for port in targets:
                    heapq.heappush(due, (sent + delay, sequence, port, frame))
                    sequence += 1


# --- the probe: what the link does -------------------------------------------------------------
ECHO = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("{addr}", {port})); s.listen(1); print("listening", flush=True)
c, _ = s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    head = c.recv(8)
    if not head: break
    n = int.from_bytes(head, "big"); got = 0
    while got < n: got += len(c.recv(min(1 << 20, n - got)))
    c.sendall(b"k")
"""


def probe(line: DelayLine, payload_bytes: int, round_trips: int = 5) -> dict[str, float]:
    """Median TCP round trip of 1 byte and time to deliver `payload_bytes` (to an echoed
    acknowledgement), node 0 to node 1, after one warm-up transfer."""
    port = 29_000 + os.getpid() % 1000
    server = subprocess.Popen(
        line.command(1, [sys.executable, "-c", ECHO.format(addr=line.address(1), port=port)]),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "listening"
        client = f"""
import socket, statistics, time, json
c = socket.create_connection(("{line.address(1)}", {port}), timeout=60)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def send(n):
    t = time.perf_counter(); c.sendall(n.to_bytes(8, "big") + bytes(n)); c.recv(1)
    return time.perf_counter() - t
rtt = statistics.median(send(1) for _ in range({round_trips}))
send({payload_bytes})
bulk = statistics.median(send({payload_bytes}) for _ in range(3))
print(json.dumps({{"rtt_s": rtt, "bulk_s": bulk}}))
"""
        out = subprocess.run(
            line.command(0, [sys.executable, "-c", client]),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout
        return json.loads(out)
    finally:
        server.kill()
        server.wait()


def _probe_table(args: argparse.Namespace) -> None:
    rows = []
    for delay in args.delay_ms:
        with DelayLine(delay, args.bandwidth_mbps) as line:
            got = probe(line, args.megabytes << 20)
        bulk_mbps = (args.megabytes << 20) * 8 / (got["bulk_s"] - got["rtt_s"] / 2) / 1e6
        rows.append(
            [
                f"{delay:g}",
                f"{args.bandwidth_mbps or 'none'}",
                f"{got['rtt_s'] * 1e3:.1f}",
                f"{args.megabytes} MiB in {got['bulk_s'] * 1e3:.0f} ms",
                f"{bulk_mbps:.0f}",
            ]
        )
    print(
        "| one-way delay ms | limit Mb/s | TCP round trip ms | bulk transfer (to its ack) | "
        "throughput Mb/s |"
    )
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    mtu = 1500 if args.bandwidth_mbps else MTU
    print(f"\n{socket.gethostname()}: 2 namespaces, Python delay line, MTU {mtu}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--forward":
        delay, bandwidth, queue, *namespaces = sys.argv[2:]
        forward(float(delay), float(bandwidth), float(queue), namespaces)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, nargs="+", default=[25, 100, 250])
    parser.add_argument("--bandwidth-mbps", type=float)
    parser.add_argument("--megabytes", type=int, default=8)
    _probe_table(parser.parse_args())


if __name__ == "__main__":
    main()
