"""What a latency table was measured on. A table is reused only where the fingerprint of the
current profiler matches the one it was built with."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class HardwareFingerprint:
    """Device, runtime and measurement settings of a latency table.

    Attributes:
        device: the CPU's model name (`cpu_name()`) or the CUDA device's
            (`torch.cuda.get_device_name()`).
        runtime / runtime_version: e.g. `torch-eager` 2.14.1, `onnxruntime` 1.32.0.
        threads: intra-op threads (0 where the runtime decides, e.g. on a GPU).
        batch_size / dtype: of the measured inputs.
        options: other settings that change latency (memory format, ...).
    """

    device: str
    runtime: str
    runtime_version: str
    threads: int
    batch_size: int
    dtype: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HardwareFingerprint:
        return cls(**data)

    @property
    def digest(self) -> str:
        """A short stable hash, part of the cache file name."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def describe(self) -> str:
        opts = "".join(f", {k}={v}" for k, v in sorted(self.options.items()))
        return (
            f"{self.device} / {self.runtime} {self.runtime_version}, {self.threads} threads, "
            f"batch {self.batch_size}, {self.dtype}{opts}"
        )


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"
