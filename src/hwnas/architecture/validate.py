"""Checks of an architecture file: every section and field present, nothing unknown, and
the blocks consistent, each error naming the file, the offending section or block and the fix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hwnas.search_space.candidates import Candidate

if TYPE_CHECKING:
    from hwnas.architecture.arch_file import Architecture, Block

ACTIVATIONS = ("relu6",)

# Every top-level entry an architecture file must give, with what it holds. None has a default:
# a deleted section must not turn into some other network without a word.
SECTIONS = {
    "name": "the network's name",
    "in_channels": "the input's channels",
    "input_size": "the input's height and width",
    "num_classes": "the classifier's classes",
    "stem": "the first convolution: channels, kernel, stride",
    "first_block": "the block after the stem",
    "layers": "one block per searched layer",
    "head": "the last 1x1 convolution: channels, dropout",
    "bn_eps": "BatchNorm's epsilon",
    "activation": "the activation, relu6",
}
OPTIONAL = ("source", "timm_arch_def")  # notes on where it came from; derived from the layers
SECTION_FIELDS = {"stem": ("channels", "kernel", "stride"), "head": ("channels", "dropout")}
BLOCK_FIELDS = (
    "stage",
    "op",
    "in_channels",
    "channels",
    "stride",
    "kernel",
    "expand",
    "shortcut",
    "removed",
)


def _names(keys: tuple[str, ...] | list[str]) -> str:
    return ", ".join(keys[:-1]) + f" and {keys[-1]}" if len(keys) > 1 else keys[0]


def _check_keys(data: Any, keys: tuple[str, ...], label: str, fix: str) -> None:
    """`data` is a mapping with exactly `keys`."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{label} must be a mapping of {_names(keys)}, not {data!r}")
    for key in keys:
        if key not in data:
            raise ValueError(f"{label} has no `{key}` (it needs {_names(keys)}).{fix}")
    unknown = [str(k) for k in data if k not in keys]
    if unknown:
        raise ValueError(
            f"{label}: unknown field `{unknown[0]}` (known: {_names(keys)}); "
            "remove it or correct its spelling"
        )


def check_sections(data: Mapping[str, Any], where: str, fix: str) -> None:
    """Raise ValueError, naming `where`, the section or block and `fix` (a sentence that
    follows the error, or empty), if a section or a field of one is missing, or one is
    unknown."""
    fix = f" {fix}" if fix else ""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: an architecture must be a mapping of {_names(list(SECTIONS))}")
    for key, holds in SECTIONS.items():
        if key not in data:
            raise ValueError(
                f"{where}: `{key}` is missing ({holds}); an architecture file "
                f"gives {_names(list(SECTIONS))}.{fix}"
            )
    unknown = [str(k) for k in data if k not in SECTIONS and k not in OPTIONAL]
    if unknown:
        raise ValueError(
            f"{where}: unknown section `{unknown[0]}` (known: "
            f"{_names([*SECTIONS, *OPTIONAL])}); remove it or correct its spelling"
        )
    for key, fields in SECTION_FIELDS.items():
        _check_keys(data[key], fields, f"{where}: {key}", fix)
    _check_keys(data["first_block"], BLOCK_FIELDS, f"{where}: first_block", fix)
    if not isinstance(data["layers"], Sequence) or isinstance(data["layers"], str):
        raise ValueError(f"{where}: layers must be a list of blocks, not {data['layers']!r}")
    for i, block in enumerate(data["layers"]):
        stage = block.get("stage", "?") if isinstance(block, Mapping) else "?"
        _check_keys(block, BLOCK_FIELDS, f"{where}: layer {i} (stage {stage})", fix)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: Any, label: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{label} must be a positive whole number, not {value!r}")


def _check_shortcut(block: Block, label: str) -> None:
    skip = block.stride == 1 and block.in_channels == block.channels
    if block.shortcut != skip:  # timm decides the skip itself; the latency prices this one
        raise ValueError(
            f"{label}: shortcut: {block.shortcut}, but a block of stride {block.stride} from "
            f"{block.in_channels} to {block.channels} channels has {'a' if skip else 'no'} skip "
            "connection (one exactly where the stride is 1 and the channels stay); set "
            f"shortcut: {str(skip).lower()}"
        )


def _check_block(block: Block, label: str, channels: int) -> None:
    try:
        cand = Candidate.parse(block.op)
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from err
    if block.in_channels != channels:
        raise ValueError(
            f"{label}: in_channels {block.in_channels} does not match the previous block's "
            f"output channels {channels}"
        )
    if cand.is_zero != block.removed:
        raise ValueError(f"{label}: op {block.op!r} disagrees with removed={block.removed}")
    if cand.is_zero:
        if block.stride != 1 or block.channels != block.in_channels:
            raise ValueError(f"{label}: a removed (zero) layer must keep stride 1 and its channels")
        return
    if (cand.kernel, cand.expand) != (block.kernel, block.expand):
        raise ValueError(f"{label}: op {block.op!r} disagrees with kernel/expand fields")
    if cand.kernel % 2 == 0 or block.stride < 1 or block.channels < 1:
        raise ValueError(f"{label}: kernel must be odd, stride and channels positive")


def validate_architecture(arch: Architecture, where: str) -> None:
    """Raise ValueError if blocks do not chain (channels), use unknown ops or bad settings."""
    if arch.activation not in ACTIVATIONS:
        raise ValueError(
            f"{where}: unknown activation {arch.activation!r}; supported: {ACTIVATIONS}"
        )
    for key in ("in_channels", "input_size", "num_classes"):
        _whole(getattr(arch, key), f"{where}: {key}")
    for key in SECTION_FIELDS["stem"]:
        _whole(arch.stem[key], f"{where}: stem {key}")
    if arch.stem["kernel"] % 2 == 0:
        raise ValueError(f"{where}: stem kernel must be odd, not {arch.stem['kernel']}")
    _whole(arch.head["channels"], f"{where}: head channels")
    dropout = arch.head["dropout"]
    if not _is_number(dropout) or not 0 <= dropout < 1:
        raise ValueError(f"{where}: head dropout must be a number in [0, 1), not {dropout!r}")
    if not _is_number(arch.bn_eps) or not arch.bn_eps > 0:
        text = " (YAML reads 1e-3 as text: write 1.0e-3)" if isinstance(arch.bn_eps, str) else ""
        raise ValueError(f"{where}: bn_eps must be a number > 0, not {arch.bn_eps!r}{text}")
    if arch.first_block.removed:
        raise ValueError(f"{where}: the first block cannot be removed")
    channels = arch.stem["channels"]
    _check_block(arch.first_block, f"{where}: first_block", channels)
    _check_shortcut(arch.first_block, f"{where}: first_block")
    channels = arch.first_block.channels
    stage, started = 0, True  # the first block is stage 0
    for i, block in enumerate(arch.layers):
        label = f"{where}: layer {i} (stage {block.stage})"
        _check_block(block, label, channels)
        channels = block.channels
        if block.stage < stage:  # timm builds stages in increasing order, not the file's
            raise ValueError(
                f"{label}: stages must run in increasing order, but it follows "
                f"stage {stage}; reorder the layers or renumber the stages"
            )
        if block.stage != stage:
            stage, started = block.stage, False
        if block.removed:
            continue
        if started and block.stride != 1:  # timm gives only a stage's first block its stride
            raise ValueError(
                f"{label}: stride {block.stride} on a block that does not start its "
                "stage would be built with stride 1; start a new stage there (give "
                "it and the layers after it the next stage number) or use stride 1"
            )
        _check_shortcut(block, label)
        started = True
