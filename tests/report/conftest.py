"""A copy of the session's sweep (`debug_sweep`: runs 0-3) that a test may damage."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def sweep_copy(debug_sweep: dict, tmp_path: Path) -> Path:
    """The sweep's run folders 0, 1, 2 and 3, copied for this test alone."""
    copy = tmp_path / "sweep"
    shutil.copytree(debug_sweep["folder"], copy)
    for name in ("report.md", "pareto.png", "hardware_matrix.png"):
        (copy / name).unlink(missing_ok=True)
    return copy
