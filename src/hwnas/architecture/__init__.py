"""Exported architectures: the `arch.yaml` format, derivation from a search, timm models."""

from hwnas.architecture.arch_file import Architecture, Block
from hwnas.architecture.derive import derive_architecture
from hwnas.architecture.timm_model import build_timm_model, resolve_architecture

__all__ = [
    "Architecture",
    "Block",
    "build_timm_model",
    "derive_architecture",
    "resolve_architecture",
]
