from __future__ import annotations

from pathlib import Path

import pytest

from hwnas.data import Cifar10DataModule


def test_missing_folder_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        Cifar10DataModule(data_dir=str(missing))
    message = str(info.value)
    assert str(missing.resolve()) in message
    assert "dataset.download=true" in message and "dataset.data_dir=" in message


def test_folder_without_cifar10_is_refused(tmp_path: Path) -> None:
    (tmp_path / "unrelated.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="No CIFAR-10"):
        Cifar10DataModule(data_dir=str(tmp_path))
