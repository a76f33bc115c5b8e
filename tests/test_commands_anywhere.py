"""`python -m hwnas.cost` and `python -m hwnas.report` from a working directory outside the
checkout, the clear stop where no conf/ can be found, the packages the wheel names, and (slow)
a command run from an installed wheel, whose conf/ travels as hwnas/conf."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hwnas.util import conf_dir

ROOT = Path(__file__).resolve().parents[1]
FLOPS_BUILD = ["build", "hardware=flops", "search_space=tiny", "input.size=16", "input.classes=4"]


def _module(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def test_cost_command_runs_from_another_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = _module(tmp_path, "hwnas.cost", *FLOPS_BUILD, f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr
    assert "tiny on hardware=flops: 20 ops" in result.stdout
    assert "latency of its architectures: 0.031 .. 0.140 MMACs" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing else in the cwd


def test_cost_usage_error_from_another_directory(tmp_path: Path) -> None:
    result = _module(tmp_path, "hwnas.cost")
    assert result.returncode == 1
    assert "usage: python -m hwnas.cost {build,validate" in result.stderr
    assert "(got no command)" in result.stderr


def test_report_help_from_another_directory(tmp_path: Path) -> None:
    result = _module(tmp_path, "hwnas.report", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m hwnas.report")
    assert "--hardware" in result.stdout and "composes no config of its own" in result.stdout


def test_conf_dir_is_the_checkouts() -> None:
    assert conf_dir.conf_dir() == ROOT / "conf"
    assert conf_dir.hardware_choices() == ["cpu", "flops", "gpu", "mobile", "onnxruntime"]


def test_no_conf_stops_with_how_to_get_a_checkout(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(conf_dir, "CHECKOUT_CONF", tmp_path / "conf")
    monkeypatch.setattr(conf_dir, "packaged_conf", lambda: tmp_path / "hwnas" / "conf")
    with pytest.raises(FileNotFoundError, match="hwnas finds no Hydra configs") as err:
        conf_dir.conf_dir()
    assert str(tmp_path / "conf") in str(err.value) and "`pip install -e .`" in str(err.value)


def test_pyproject_names_every_package() -> None:
    tomllib = pytest.importorskip("tomllib")
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    src = ROOT / "src"
    found = {
        ".".join(p.parent.relative_to(src).parts) for p in (src / "hwnas").rglob("__init__.py")
    }
    assert set(setuptools["packages"]) == found | {"hwnas.conf"}
    assert setuptools["package-dir"] == {"": "src", "hwnas.conf": "conf"}


def _wheel(tmp_path: Path) -> Path:
    """A wheel built from a copy of the checkout (the checkout itself gets no build/ folder)."""
    source = tmp_path / "source"
    for name in ("src", "conf"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = tmp_path / "wheel"
    subprocess.run(
        [*pip, "wheel", str(source), "-w", str(built), "--no-deps", "--no-build-isolation"],
        check=True,
    )
    return next(built.glob("hwnas-*.whl"))


@pytest.mark.slow
def test_wheel_ships_conf_and_runs_a_command(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site)]
        + [str(_wheel(tmp_path))],
        check=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}  # the wheel's hwnas before the checkout's
    probe = "import hwnas.util.conf_dir as c; print(c.__file__); print(c.conf_dir())"
    where = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert where.stdout.split() == [
        str(site / "hwnas" / "util" / "conf_dir.py"),
        str(site / "hwnas" / "conf"),
    ], where.stderr
    run_dir = tmp_path / "run"
    result = _module(tmp_path, "hwnas.cost", *FLOPS_BUILD, f"hydra.run.dir={run_dir}", env=env)
    assert result.returncode == 0, result.stderr
    assert "tiny on hardware=flops: 20 ops" in result.stdout
