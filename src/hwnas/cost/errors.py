"""Errors of latency tables: each names what is wrong and how to fix it."""

from __future__ import annotations

from pathlib import Path

SHOWN_FILES = 3


class LatencyTableError(ValueError):
    """Base of the latency-table errors."""


class MalformedTableError(LatencyTableError):
    """A table file, key or entry that cannot be read."""


class MissingLatencyError(LatencyTableError):
    """A table without an entry for an op the search space needs."""


def folder_message(folder: Path, label: str, patterns: tuple[str, ...]) -> str:
    """Why `folder` (given as `label`, e.g. `hardware.table='runs/'`) is not a file, naming the
    files in it that match `patterns` (globs) to pass instead."""
    found = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})
    if not found:
        return f"{label} is a folder, not a file, and holds no {' or '.join(patterns)}"
    shown = ", ".join(str(p) for p in found[:SHOWN_FILES])
    more = f" and {len(found) - SHOWN_FILES} more" if len(found) > SHOWN_FILES else ""
    which = "that file" if len(found) == 1 else "one of them"
    return f"{label} is a folder, not a file; it holds {shown}{more}: pass {which}"
