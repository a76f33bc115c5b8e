"""A searched or published architecture as data: a readable per-layer YAML file (`arch.yaml`)
and the equivalent timm `arch_def` strings (REFERENCE A6)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hwnas.search_space.candidates import Candidate
from hwnas.util.files import write_text

# How to mend a file with a missing section or field.
FILE_FIX = (
    "Copy it back from the arch.yaml that search.py wrote (outputs/search/<run>/arch.yaml; "
    "a train.py run keeps a copy in its folder), or run search.py again to export the "
    "file whole."
)
SHOWN_FILES = 3


def _folder_message(folder: Path) -> str:
    """Why a folder is not an architecture file, and the files in it to pass instead."""
    found = [folder / "arch.yaml"] if (folder / "arch.yaml").is_file() else []
    found = found or sorted(folder.glob("*/arch.yaml"))  # a multirun sweep: one per job
    if not found:
        return (
            f"{folder} is a folder, not an architecture file, and holds no arch.yaml: pass "
            "the arch.yaml of a run (outputs/search/<run>/arch.yaml) or the name of a "
            "published net"
        )
    shown = ", ".join(str(p) for p in found[:SHOWN_FILES])
    more = f" and {len(found) - SHOWN_FILES} more" if len(found) > SHOWN_FILES else ""
    which = "that file" if len(found) == 1 else "one of them"
    return f"{folder} is a folder, not an architecture file; it holds {shown}{more}: pass {which}"


@dataclass
class Block:
    """One block: an MBConv (`op` like `k5e3`) or a removed layer (`op: zero`)."""

    stage: int
    op: str
    in_channels: int
    channels: int
    stride: int
    kernel: int = 0
    expand: float = 0.0
    shortcut: bool = False
    removed: bool = False

    @classmethod
    def make(
        cls, stage: int, cand: Candidate, in_channels: int, channels: int, stride: int
    ) -> Block:
        return cls(
            stage=stage,
            op=cand.name,
            in_channels=in_channels,
            channels=channels,
            stride=stride,
            kernel=cand.kernel,
            expand=float(cand.expand),
            shortcut=stride == 1 and in_channels == channels,
            removed=cand.is_zero,
        )

    def timm_string(self) -> str:
        """timm block string: `ds_r1_k3_s1_c16` for expand 1, else `ir_r1_k5_s2_e3_c32`."""
        if self.expand == 1:
            return f"ds_r1_k{self.kernel}_s{self.stride}_c{self.channels}"
        expand = int(self.expand) if float(self.expand).is_integer() else self.expand
        return f"ir_r1_k{self.kernel}_s{self.stride}_e{expand}_c{self.channels}"


@dataclass
class Architecture:
    """A whole network: stem, first block, searched layers, head; enough to build it.

    `layers` keeps removed (Zero) layers, marked `removed: true`, so the file reads as the
    search space's table with the choice of every layer.
    """

    name: str
    in_channels: int
    input_size: int
    num_classes: int
    stem: dict[str, int]
    first_block: Block
    layers: list[Block]
    head: dict[str, float]
    bn_eps: float = 1e-3
    activation: str = "relu6"
    source: dict[str, Any] = field(default_factory=dict)

    def arch_def(self) -> list[list[str]]:
        """timm `arch_def`: one list per stage (the first block is stage 0); removed layers
        are left out."""
        stages: dict[int, list[str]] = {0: [self.first_block.timm_string()]}
        for block in self.layers:
            if not block.removed:
                stages.setdefault(block.stage, []).append(block.timm_string())
        return [stages[s] for s in sorted(stages)]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timm_arch_def"] = self.arch_def()
        return data

    def save(self, path: str | Path) -> Path:
        """Write the YAML file (atomically: a failed write keeps the previous file)."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, width=200, default_flow_style=None)
        return write_text(path, text)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], where: str = "architecture", fix: str = ""
    ) -> Architecture:
        """The architecture `data` describes, refused (ValueError naming `where`, then `fix`
        where a section or field is missing) unless it is complete and consistent."""
        from hwnas.architecture.validate import check_sections, validate_architecture

        check_sections(data, where, fix)
        try:
            data = dict(data)
            declared = data.pop("timm_arch_def", None)
            arch = cls(
                **{
                    **data,
                    "first_block": Block(**data["first_block"]),
                    "layers": [Block(**b) for b in data["layers"]],
                }
            )
        except (KeyError, TypeError) as err:
            raise ValueError(f"{where}: malformed architecture file ({err})") from err
        validate_architecture(arch, where)
        if declared is not None and [list(s) for s in declared] != arch.arch_def():
            raise ValueError(
                f"{where}: timm_arch_def disagrees with the layers (the layers are authoritative); "
                "delete timm_arch_def or correct it"
            )
        return arch

    @classmethod
    def load(cls, path: str | Path) -> Architecture:
        """Read an `arch.yaml`; a folder is refused with the architecture files it holds."""
        path = Path(path)
        if path.is_dir():
            raise FileNotFoundError(_folder_message(path))
        if not path.is_file():
            raise FileNotFoundError(f"architecture file not found: {path.resolve()}")
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: an architecture file must be a YAML mapping")
        return cls.from_dict(data, where=str(path), fix=FILE_FIX)

    def describe(self) -> list[tuple[str, ...]]:
        """Rows (stage, layer, op, channels, stride) for printed summaries."""
        rows = [
            (
                "0",
                "-",
                self.first_block.op,
                f"{self.first_block.in_channels}->{self.first_block.channels}",
                str(self.first_block.stride),
            )
        ]
        for i, b in enumerate(self.layers):
            op = "zero (removed)" if b.removed else b.op
            rows.append((str(b.stage), str(i), op, f"{b.in_channels}->{b.channels}", str(b.stride)))
        return rows
