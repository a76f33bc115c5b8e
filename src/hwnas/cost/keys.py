"""Latency-table keys in the format of the original ProxylessNAS and Once-for-All tables
(REFERENCE A4), e.g. `expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:5-stride:2-idskip:0`.

The original `Conv` key has no kernel field (its stem is always 3x3); a stem of another kernel
size gets an extra `-kernel:K` field, which the original tools ignore.
"""

from __future__ import annotations

import re

from hwnas.cost.errors import MalformedTableError
from hwnas.cost.op_shapes import OpShape

ORIGINAL_NAMES = {
    "conv": "Conv",
    "expanded_conv": "expanded_conv",
    "conv_1x1": "Conv_1",
    "logits": "Logits",
}
KINDS = {name: kind for kind, name in ORIGINAL_NAMES.items()}
_HWC = re.compile(r"^(\d+)x(\d+)x(\d+)$")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def op_key(op: OpShape) -> str:
    """The original-format key of `op`."""
    name = ORIGINAL_NAMES[op.kind]
    size_in, size_out = op.input_size, op.output_size
    if op.kind == "logits":
        return f"{name}-input:{size_in}x{size_in}x{op.in_channels}-output:{op.out_channels}"
    key = (
        f"{name}-input:{size_in}x{size_in}x{op.in_channels}"
        f"-output:{size_out}x{size_out}x{op.out_channels}"
    )
    if op.kind == "expanded_conv":
        key += (
            f"-expand:{_number(op.expand)}-kernel:{op.kernel}-stride:{op.stride}"
            f"-idskip:{int(op.shortcut)}"
        )
    elif op.kind == "conv" and op.kernel != 3:
        key += f"-kernel:{op.kernel}"
    return key


def _shape(text: str, key: str) -> tuple[int, int, int]:
    match = _HWC.match(text)
    if match is None:
        raise MalformedTableError(f"latency-table key {key!r}: {text!r} is not HxWxC")
    h, w, c = (int(g) for g in match.groups())
    if h != w:
        raise MalformedTableError(f"latency-table key {key!r}: non-square feature map {h}x{w}")
    return h, w, c


def _stride(size_in: int, size_out: int, key: str) -> int:
    for stride in (1, 2, 4):
        if (size_in + stride - 1) // stride == size_out:
            return stride
    raise MalformedTableError(
        f"latency-table key {key!r}: output size {size_out} does not follow input {size_in}"
    )


def parse_key(key: str) -> OpShape | None:
    """The op of an original-format key; None for op types this project does not build
    (Once-for-All tables also price MobileNetV3 layers, e.g. with `se:1` or `hs:1`)."""
    name, *parts = key.split("-")
    if name not in KINDS:
        return None
    fields = {}
    for part in parts:
        field, sep, value = part.partition(":")
        if not sep:
            raise MalformedTableError(
                f"latency-table key {key!r}: field {part!r} is not name:value"
            )
        fields[field] = value
    if fields.get("se", "0") != "0" or fields.get("hs", "0") != "0" or "act" in fields:
        return None
    kind = KINDS[name]
    try:
        size_in, _, c_in = _shape(fields["input"], key)
        if kind == "logits":
            return OpShape(kind, size_in, c_in, int(fields["output"]))
        size_out, _, c_out = _shape(fields["output"], key)
        if kind == "expanded_conv":
            return OpShape(
                kind,
                size_in,
                c_in,
                c_out,
                int(fields["kernel"]),
                int(fields["stride"]),
                float(fields["expand"]),
                fields["idskip"] == "1",
            )
        stride = _stride(size_in, size_out, key)
        kernel = int(fields.get("kernel", 3 if kind == "conv" else 1))
        return OpShape(kind, size_in, c_in, c_out, kernel, stride)
    except KeyError as missing:
        raise MalformedTableError(
            f"latency-table key {key!r}: no {missing.args[0]!r} field"
        ) from None
    except ValueError as bad:
        if isinstance(bad, MalformedTableError):
            raise
        raise MalformedTableError(f"latency-table key {key!r}: {bad}") from None
