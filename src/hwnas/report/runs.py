"""The runs a report covers: search runs found under the folders given (a Hydra multirun
folder, run folders, or any folder above them), with the train and eval runs that used their
architectures attached."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SEARCH_FILE, TRAIN_FILE, EVAL_FILE = "summary.json", "train_summary.json", "eval.json"


@dataclass
class SearchRun:
    """One search run: its folder, `summary.json`, command-line overrides and resolved config,
    and the figures of train/eval runs of its architecture (`trained`, `evaluated`)."""

    folder: Path
    summary: dict[str, Any]
    overrides: list[str]
    config: dict[str, Any]
    trained: list[dict[str, Any]] = field(default_factory=list)
    evaluated: list[dict[str, Any]] = field(default_factory=list)

    @property
    def arch_file(self) -> Path:
        return self.folder / self.summary.get("arch_file", "arch.yaml")

    def label(self, root: Path | None = None) -> str:
        """The folder relative to `root` (the sweep, or the folders' common parent), e.g. `3`."""
        if root is not None and self.folder.is_relative_to(root) and self.folder != root:
            return str(self.folder.relative_to(root))
        return self.folder.name


def common_root(runs: list[SearchRun]) -> Path | None:
    """The deepest folder holding every run (labels are relative to it)."""
    if not runs:
        return None
    return Path(os.path.commonpath([str(r.folder) for r in runs]))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{path} cannot be read as JSON ({err}); the run that wrote it did "
            "not finish: run it again, or leave its folder out"
        ) from err
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text())


def _run_files(roots: list[Path], name: str) -> list[Path]:
    """Every `name` under `roots`, not those inside a wandb run's own files."""
    found: set[Path] = set()
    for root in roots:
        if (root / name).is_file():
            found.add((root / name).resolve())
        found.update(
            p.resolve() for p in root.glob(f"**/{name}") if "wandb" not in p.relative_to(root).parts
        )
    return sorted(found)


def _launch_dir(folder: Path) -> Path:
    """The folder the run was started from (Hydra's `runtime.cwd`): where its relative paths
    (`arch=outputs/...`, `ckpt_path=...`) point from."""
    hydra = _read_yaml(folder / ".hydra" / "hydra.yaml") or {}
    cwd = ((hydra.get("hydra") or {}).get("runtime") or {}).get("cwd")
    return Path(cwd) if cwd else Path.cwd()


def _resolve(value: str, folder: Path) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else _launch_dir(folder) / path).resolve()


def _overrides(folder: Path) -> list[str]:
    return list(_read_yaml(folder / ".hydra" / "overrides.yaml") or [])


def _config(folder: Path) -> dict[str, Any]:
    return _read_yaml(folder / "config.yaml") or _read_yaml(folder / ".hydra" / "config.yaml") or {}


def _search_of_train_run(folder: Path, searches: dict[Path, SearchRun]) -> SearchRun | None:
    """The search whose architecture the train run in `folder` trained: `arch=<run>/arch.yaml`,
    or with no `arch`, `init_from_search=<run>` (whose arch.yaml it then trains)."""
    config = _config(folder)
    value = config.get("arch") or config.get("init_from_search")
    if not isinstance(value, str):
        return None
    path = _resolve(value, folder)
    return searches.get(path if path.is_dir() else path.parent)


def collect_runs(paths: list[str | Path]) -> list[SearchRun]:
    """Every search run under `paths`, in folder order, with its train and eval results."""
    roots = [Path(p) for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no such folder: {', '.join(missing)}")
    searches: dict[Path, SearchRun] = {}
    for path in _run_files(roots, SEARCH_FILE):
        folder = path.parent
        searches[folder] = SearchRun(folder, _read_json(path), _overrides(folder), _config(folder))
    trains: dict[Path, SearchRun] = {}
    for path in _run_files(roots, TRAIN_FILE):
        search = _search_of_train_run(path.parent, searches)
        if search is not None:
            search.trained.append(_read_json(path) | {"folder": str(path.parent)})
            trains[path.parent] = search
    for path in _run_files(roots, EVAL_FILE):
        figures = _read_json(path)
        checkpoint = _resolve(str(figures.get("checkpoint", "")), path.parent)
        owner = next((s for f, s in trains.items() if checkpoint.is_relative_to(f)), None)
        if owner is not None:
            owner.evaluated.append(figures | {"folder": str(path.parent)})
    if not searches:
        raise FileNotFoundError(
            f"no search run under {', '.join(map(str, roots))}: a finished `python search.py` "
            f"run leaves {SEARCH_FILE} in its folder (multirun/search/<date>/<n>/)"
        )
    return sorted(searches.values(), key=lambda s: _natural_key(s.folder))


def _natural_key(path: Path) -> list[Any]:
    """Sort `.../2` before `.../10`."""
    return [int(part) if part.isdigit() else part for part in path.parts]
