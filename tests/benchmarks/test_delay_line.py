"""benchmarks/delay_line.py: a real delayed network of namespaces. The round trip and a
bandwidth-limited transfer take at least what the settings imply (lower bounds only: a loaded
machine may add to them), and every namespace goes away after the block, on error too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from delay_line import PREFIX, DelayLine, probe, unavailable  # noqa: E402

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"delay line: {unavailable()}")


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_a_round_trip_takes_at_least_twice_the_one_way_delay() -> None:
    with DelayLine(delay_ms=20) as line:
        got = probe(line, payload_bytes=1 << 16, round_trips=3)
        assert all(ns in _namespaces() for ns in line.namespaces)
    assert got["rtt_s"] >= 0.040
    assert not any(ns in _namespaces() for ns in line.namespaces)


def test_a_bandwidth_limit_holds_a_transfer_back() -> None:
    with DelayLine(delay_ms=0, bandwidth_mbps=50) as line:
        got = probe(line, payload_bytes=2 << 20, round_trips=1)
    assert got["bulk_s"] >= (2 << 20) * 8 / 50e6 * 0.95  # 0.34 s at 50 Mb/s


def test_the_namespaces_and_the_forwarder_go_away_after_an_error() -> None:
    with pytest.raises(ZeroDivisionError), DelayLine(delay_ms=5) as line:
        forwarder = line.forwarder
        1 / 0  # noqa: B018
    assert not any(ns in _namespaces() for ns in line.namespaces)
    assert forwarder is not None and forwarder.poll() is not None


def test_a_sigterm_to_its_owner_removes_the_namespaces_too(tmp_path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(
        "import os, signal, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2] / 'benchmarks')!r})\n"
        "from delay_line import DelayLine\n"
        "with DelayLine(delay_ms=1) as line:\n"
        "    print(' '.join(line.namespaces), flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 128 + 15, result.stderr[-2000:]
    made = result.stdout.split()
    assert made and not any(ns in _namespaces() for ns in made)


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="delay_ms >= 0"):
        DelayLine(delay_ms=-1)
    assert PREFIX in DelayLine(delay_ms=1).namespaces[0]
