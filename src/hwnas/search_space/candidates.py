"""Candidate operations of a searched layer, named as in the paper's tables (`k5e3` = MBConv with
kernel 5 and expand ratio 3, `zero` = the layer is skipped)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^k(\d+)e(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Candidate:
    """One candidate op: an MBConv block (kernel, expand) or Zero (`kernel == 0`)."""

    kernel: int = 0
    expand: float = 0.0

    @property
    def is_zero(self) -> bool:
        return self.kernel == 0

    @property
    def name(self) -> str:
        if self.is_zero:
            return "zero"
        expand = int(self.expand) if float(self.expand).is_integer() else self.expand
        return f"k{self.kernel}e{expand}"

    @classmethod
    def parse(cls, name: str) -> Candidate:
        """Read `zero` or `k{kernel}e{expand}`."""
        if name == "zero":
            return ZERO
        match = _NAME.match(name)
        if match is None:
            raise ValueError(f"unknown candidate {name!r}: expected 'zero' or 'k<kernel>e<expand>'")
        return cls(kernel=int(match.group(1)), expand=float(match.group(2)))

    def __str__(self) -> str:
        return self.name


ZERO = Candidate()
